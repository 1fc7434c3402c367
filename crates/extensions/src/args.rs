//! Coercion of a command's JSON arguments to the kinds its spec declares (reference 3.3).
//!
//! Clients (the SDK, front-ends filling forms) send every argument as a string, so strings are
//! converted by kind; JSON values of the right type pass through. Coercing twice gives the
//! same map, so an extension may coerce again defensively.

use serde_json::{Map, Number, Value};

use crate::registry::{ArgKind, ArgSpec, CommandError, CommandSpec};

/// The spec's arguments, typed: unknown arguments are dropped; a missing (or `null`) argument
/// gets its default, coerced, or `null` when the default is `""`.
pub fn coerce(
    spec: &CommandSpec,
    given: &Map<String, Value>,
) -> Result<Map<String, Value>, CommandError> {
    spec.args
        .iter()
        .map(|arg| {
            let value = match given.get(arg.name) {
                Some(Value::Null) | None => default_of(arg)?,
                Some(value) => coerce_value(arg, value)?,
            };
            Ok((arg.name.to_owned(), value))
        })
        .collect()
}

fn default_of(arg: &ArgSpec) -> Result<Value, CommandError> {
    if arg.default.is_empty() {
        Ok(Value::Null)
    } else {
        coerce_value(arg, &Value::String(arg.default.to_owned()))
    }
}

/// One value to `arg.kind`. For the kinds an empty string cannot spell (Int, Float, Dict), `""`
/// means "not given": forms send `""` for every field left blank.
fn coerce_value(arg: &ArgSpec, value: &Value) -> Result<Value, CommandError> {
    if matches!(arg.kind, ArgKind::Int | ArgKind::Float | ArgKind::Dict)
        && value.as_str().is_some_and(|s| s.trim().is_empty())
    {
        return default_of(arg);
    }
    let bad = |message: &str| CommandError::bad_argument(arg.name, message);
    match arg.kind {
        ArgKind::Str => to_str(value).ok_or_else(|| bad("expected a string")),
        ArgKind::Int => to_int(value).ok_or_else(|| bad("expected an integer")),
        ArgKind::Float => to_float(value).ok_or_else(|| bad("expected a number")),
        ArgKind::Bool => to_bool(value).ok_or_else(|| bad("expected a boolean (true/false)")),
        ArgKind::List => to_list(value).ok_or_else(|| bad("expected a list")),
        ArgKind::Dict => to_dict(value).ok_or_else(|| bad("expected a JSON object")),
    }
}

fn to_str(value: &Value) -> Option<Value> {
    match value {
        Value::String(_) => Some(value.clone()),
        Value::Number(n) => Some(Value::String(n.to_string())),
        Value::Bool(b) => Some(Value::String(b.to_string())),
        _ => None,
    }
}

fn to_int(value: &Value) -> Option<Value> {
    match value {
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(value.clone()),
        Value::Number(n) => n.as_f64().and_then(integral),
        Value::String(s) => {
            let s = s.trim();
            // The reference goes through float when the string has a dot ("3.0" -> 3).
            if s.contains('.') {
                s.parse::<f64>().ok().and_then(integral)
            } else {
                s.parse::<i64>().ok().map(Value::from)
            }
        }
        _ => None,
    }
}

/// `x` as an integer value when it is finite, whole and fits an i64.
fn integral(x: f64) -> Option<Value> {
    // i64::MAX as f64 rounds up to 2^63, which does not fit, hence the strict bound.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    // The cast is exact: x is whole and within i64's range.
    (x.is_finite() && x.fract() == 0.0 && (-LIMIT..LIMIT).contains(&x))
        .then(|| Value::from(x as i64))
}

fn to_float(value: &Value) -> Option<Value> {
    match value {
        Value::Number(_) => Some(value.clone()),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number),
        _ => None,
    }
}

fn to_bool(value: &Value) -> Option<Value> {
    let flag = match value {
        Value::Bool(b) => *b,
        Value::Number(n) => match n.as_i64() {
            Some(1) => true,
            Some(0) => false,
            _ => return None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" | "" => false,
            _ => return None,
        },
        _ => return None,
    };
    Some(Value::Bool(flag))
}

/// A JSON array as is; a string holding a JSON array; else the string split on commas.
fn to_list(value: &Value) -> Option<Value> {
    match value {
        Value::Array(_) => Some(value.clone()),
        Value::String(s) => {
            if let Ok(parsed @ Value::Array(_)) = serde_json::from_str::<Value>(s) {
                return Some(parsed);
            }
            let items = s
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| Value::String(item.to_owned()))
                .collect();
            Some(Value::Array(items))
        }
        Value::Number(_) | Value::Bool(_) => Some(Value::Array(vec![value.clone()])),
        _ => None,
    }
}

fn to_dict(value: &Value) -> Option<Value> {
    match value {
        Value::Object(_) => Some(value.clone()),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(parsed @ Value::Object(_)) => Some(parsed),
            _ => None,
        },
        _ => None,
    }
}

/// A required string argument of a coerced map.
pub(crate) fn required_str<'a>(
    args: &'a Map<String, Value>,
    name: &str,
) -> Result<&'a str, CommandError> {
    optional_str(args, name)?.ok_or_else(|| CommandError::bad_argument(name, "is required"))
}

/// An optional string argument of a coerced map (`null` -> `None`).
pub(crate) fn optional_str<'a>(
    args: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, CommandError> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(CommandError::bad_argument(name, "expected a string")),
    }
}

/// An optional integer argument of a coerced map (`null` -> `None`).
pub(crate) fn optional_int(
    args: &Map<String, Value>,
    name: &str,
) -> Result<Option<i64>, CommandError> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_i64()
            .map(Some)
            .ok_or_else(|| CommandError::bad_argument(name, "expected an integer")),
    }
}

/// An optional object argument of a coerced map (`null` -> empty).
pub(crate) fn optional_dict<'a>(
    args: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a Map<String, Value>>, CommandError> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(CommandError::bad_argument(name, "expected a JSON object")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ARGS: &[ArgSpec] = &[
        ArgSpec {
            name: "s",
            kind: ArgKind::Str,
            default: "",
        },
        ArgSpec {
            name: "i",
            kind: ArgKind::Int,
            default: "",
        },
        ArgSpec {
            name: "f",
            kind: ArgKind::Float,
            default: "",
        },
        ArgSpec {
            name: "b",
            kind: ArgKind::Bool,
            default: "",
        },
        ArgSpec {
            name: "l",
            kind: ArgKind::List,
            default: "",
        },
        ArgSpec {
            name: "d",
            kind: ArgKind::Dict,
            default: "",
        },
        ArgSpec {
            name: "with_default",
            kind: ArgKind::Int,
            default: "7",
        },
        ArgSpec {
            name: "dict_default",
            kind: ArgKind::Dict,
            default: "{}",
        },
    ];
    const SPEC: CommandSpec = CommandSpec {
        name: "Test",
        function: "test",
        description: "",
        args: ARGS,
    };

    fn one(name: &str, value: Value) -> Result<Value, CommandError> {
        let given = json!({ name: value });
        let given = given.as_object().unwrap();
        coerce(&SPEC, given).map(|map| map[name].clone())
    }

    fn rejects(name: &str, value: Value) {
        match one(name, value.clone()) {
            Err(CommandError::BadArgument(arg, _)) => assert_eq!(arg, name),
            other => panic!("{name} = {value}: {other:?}"),
        }
    }

    #[test]
    fn unknown_arguments_are_dropped_and_missing_ones_defaulted() {
        let given = json!({"s": "x", "nope": 1});
        let out = coerce(&SPEC, given.as_object().unwrap()).unwrap();
        assert!(!out.contains_key("nope"));
        assert_eq!(out.len(), ARGS.len());
        assert_eq!(out["s"], json!("x"));
        assert_eq!(out["i"], Value::Null);
        assert_eq!(out["b"], Value::Null);
        assert_eq!(out["with_default"], json!(7));
        assert_eq!(out["dict_default"], json!({}));
        assert_eq!(one("with_default", Value::Null).unwrap(), json!(7));
    }

    #[test]
    fn coercing_twice_changes_nothing() {
        let given = json!({"s": 5, "i": "3.0", "b": "yes", "l": "a, b", "d": "{\"k\":1}"});
        let once = coerce(&SPEC, given.as_object().unwrap()).unwrap();
        assert_eq!(coerce(&SPEC, &once).unwrap(), once);
    }

    #[test]
    fn bools() {
        for truthy in ["true", "1", "yes", "on", "TRUE", " On "] {
            assert_eq!(one("b", json!(truthy)).unwrap(), json!(true), "{truthy}");
        }
        for falsy in ["false", "0", "no", "off", "", "False"] {
            assert_eq!(one("b", json!(falsy)).unwrap(), json!(false), "{falsy}");
        }
        assert_eq!(one("b", json!(true)).unwrap(), json!(true));
        assert_eq!(one("b", json!(0)).unwrap(), json!(false));
        rejects("b", json!("maybe"));
        rejects("b", json!(2));
        rejects("b", json!([]));
    }

    #[test]
    fn ints() {
        assert_eq!(one("i", json!("42")).unwrap(), json!(42));
        assert_eq!(one("i", json!(" -3 ")).unwrap(), json!(-3));
        assert_eq!(one("i", json!("3.0")).unwrap(), json!(3));
        assert_eq!(one("i", json!(5)).unwrap(), json!(5));
        assert_eq!(one("i", json!(5.0)).unwrap(), json!(5));
        assert_eq!(one("i", json!("")).unwrap(), Value::Null);
        assert_eq!(one("with_default", json!("")).unwrap(), json!(7));
        rejects("i", json!("3.5"));
        rejects("i", json!(3.5));
        rejects("i", json!("1.0e400"));
        rejects("i", json!("nan.0"));
        rejects("i", json!("ten"));
        rejects("i", json!(true));
        rejects("i", json!({}));
    }

    #[test]
    fn floats() {
        assert_eq!(one("f", json!("0.5")).unwrap(), json!(0.5));
        assert_eq!(one("f", json!(2)).unwrap(), json!(2));
        assert_eq!(one("f", json!("")).unwrap(), Value::Null);
        rejects("f", json!("inf"));
        rejects("f", json!("half"));
        rejects("f", json!([1]));
    }

    #[test]
    fn lists() {
        assert_eq!(one("l", json!([1, "a"])).unwrap(), json!([1, "a"]));
        assert_eq!(one("l", json!("[1, 2]")).unwrap(), json!([1, 2]));
        assert_eq!(
            one("l", json!(" a, b ,c,")).unwrap(),
            json!(["a", "b", "c"])
        );
        assert_eq!(one("l", json!("")).unwrap(), json!([]));
        assert_eq!(
            one("l", json!("{\"a\": 1}")).unwrap(),
            json!(["{\"a\": 1}"])
        );
        rejects("l", json!({"a": 1}));
    }

    #[test]
    fn dicts() {
        assert_eq!(one("d", json!({"a": 1})).unwrap(), json!({"a": 1}));
        assert_eq!(one("d", json!("{\"a\": 1}")).unwrap(), json!({"a": 1}));
        assert_eq!(one("dict_default", json!("")).unwrap(), json!({}));
        rejects("d", json!("[1]"));
        rejects("d", json!("a=1"));
        rejects("d", json!(1));
    }

    #[test]
    fn strs() {
        assert_eq!(one("s", json!("as is ")).unwrap(), json!("as is "));
        assert_eq!(one("s", json!(12)).unwrap(), json!("12"));
        assert_eq!(one("s", json!(1.5)).unwrap(), json!("1.5"));
        assert_eq!(one("s", json!(false)).unwrap(), json!("false"));
        rejects("s", json!({"a": 1}));
        rejects("s", json!(["a"]));
    }
}
