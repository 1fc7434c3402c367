//! Which provider answers (reference agents-memory.md 1.4, with Agentry's fix: the agent's
//! `provider` setting is honoured when it names a configured provider). Settings arrive
//! merged (server -> company -> agent), each value marked with whether the server's own
//! configuration gave it: a base URL that an agent or a company set is user input and is
//! reached only through the address rules ([`Endpoint::user_supplied`]).

use std::collections::BTreeMap;

use crate::anthropic::Anthropic;
use crate::gemini::Gemini;
use crate::openai::OpenAiCompatible;
use crate::{ChatModel, Clients, Endpoint, ProviderError, Timeouts};

/// Where a merged setting's value came from, the server's configuration first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layer {
    /// The server's own configuration (environment, file): trusted.
    Server,
    /// The agent's company's settings.
    Company,
    /// The agent's own settings.
    Agent,
}

/// A merged setting's value, and the layer that gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub value: String,
    pub layer: Layer,
}

/// Merged settings by name.
pub type Settings = BTreeMap<String, Setting>;

/// The wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenAI's chat completions (and every compatible server).
    OpenAi,
    /// Azure OpenAI: OpenAI's body at a deployment's URL, with `api-version`.
    Azure,
    /// Anthropic Messages.
    Anthropic,
    /// Google Gemini's `generateContent`.
    Gemini,
}

/// How one provider is configured: its wire format, setting names (aliases after the
/// first) and defaults.
struct Wire {
    key: &'static str,
    format: Format,
    api_key: &'static str,
    base_url: &'static [&'static str],
    default_base: &'static str,
    model: &'static [&'static str],
    default_model: &'static str,
    max_tokens: &'static str,
    default_max_tokens: u64,
    /// Configured by its base URL alone (a local server needs no key).
    keyless: bool,
}

const WIRES: &[Wire] = &[
    Wire {
        key: "openai",
        api_key: "OPENAI_API_KEY",
        base_url: &["OPENAI_API_URI", "OPENAI_BASE_URI"],
        default_base: "https://api.openai.com/v1",
        model: &["OPENAI_AI_MODEL", "OPENAI_MODEL"],
        default_model: "gpt-4o",
        max_tokens: "OPENAI_MAX_TOKENS",
        default_max_tokens: 128_000,
        keyless: false,
        format: Format::OpenAi,
    },
    Wire {
        key: "openrouter",
        api_key: "OPENROUTER_API_KEY",
        base_url: &["OPENROUTER_API_URI"],
        default_base: "https://openrouter.ai/api/v1",
        model: &["OPENROUTER_AI_MODEL", "OPENROUTER_MODEL"],
        default_model: "openrouter/auto",
        max_tokens: "OPENROUTER_MAX_TOKENS",
        default_max_tokens: 16_384,
        keyless: false,
        format: Format::OpenAi,
    },
    Wire {
        key: "deepseek",
        api_key: "DEEPSEEK_API_KEY",
        base_url: &["DEEPSEEK_API_URI"],
        default_base: "https://api.deepseek.com/v1",
        model: &["DEEPSEEK_MODEL", "DEEPSEEK_AI_MODEL"],
        default_model: "deepseek-chat",
        max_tokens: "DEEPSEEK_MAX_TOKENS",
        default_max_tokens: 64_000,
        keyless: false,
        format: Format::OpenAi,
    },
    Wire {
        key: "xai",
        api_key: "XAI_API_KEY",
        base_url: &["XAI_API_URI"],
        default_base: "https://api.x.ai/v1",
        model: &["XAI_AI_MODEL", "XAI_MODEL"],
        default_model: "grok-3",
        max_tokens: "XAI_MAX_TOKENS",
        default_max_tokens: 128_000,
        keyless: false,
        format: Format::OpenAi,
    },
    Wire {
        key: "deepinfra",
        api_key: "DEEPINFRA_API_KEY",
        base_url: &["DEEPINFRA_ENDPOINT_URL"],
        default_base: "https://api.deepinfra.com/v1/openai",
        model: &["DEEPINFRA_MODEL", "DEEPINFRA_AI_MODEL"],
        default_model: "meta-llama/Llama-3.3-70B-Instruct",
        max_tokens: "DEEPINFRA_MAX_TOKENS",
        default_max_tokens: 128_000,
        keyless: false,
        format: Format::OpenAi,
    },
    Wire {
        key: "chutes",
        api_key: "CHUTES_API_KEY",
        base_url: &["CHUTES_ENDPOINT_URL"],
        default_base: "https://llm.chutes.ai/v1",
        model: &["CHUTES_MODEL", "CHUTES_AI_MODEL"],
        default_model: "deepseek-ai/DeepSeek-V3",
        max_tokens: "CHUTES_MAX_TOKENS",
        default_max_tokens: 128_000,
        keyless: false,
        format: Format::OpenAi,
    },
    Wire {
        key: "huggingface",
        api_key: "HUGGINGFACE_API_KEY",
        base_url: &["HUGGINGFACE_API_URI"],
        default_base: "https://router.huggingface.co/v1",
        model: &["HUGGINGFACE_MODEL", "HUGGINGFACE_AI_MODEL"],
        default_model: "meta-llama/Llama-3.3-70B-Instruct",
        max_tokens: "HUGGINGFACE_MAX_TOKENS",
        default_max_tokens: 1024,
        keyless: false,
        format: Format::OpenAi,
    },
    Wire {
        key: "ezlocalai",
        api_key: "EZLOCALAI_API_KEY",
        base_url: &["EZLOCALAI_API_URI", "EZLOCALAI_URI"],
        default_base: "",
        model: &["EZLOCALAI_AI_MODEL", "EZLOCALAI_MODEL"],
        default_model: "",
        max_tokens: "EZLOCALAI_MAX_TOKENS",
        default_max_tokens: 250_000,
        keyless: true,
        format: Format::OpenAi,
    },
    Wire {
        key: "perplexity",
        api_key: "PERPLEXITY_API_KEY",
        base_url: &["PERPLEXITY_API_URI"],
        default_base: "https://api.perplexity.ai",
        model: &["PERPLEXITY_MODEL", "PERPLEXITY_AI_MODEL"],
        default_model: "sonar",
        max_tokens: "PERPLEXITY_MAX_TOKENS",
        default_max_tokens: 127_000,
        keyless: false,
        format: Format::OpenAi,
    },
    Wire {
        key: "anthropic",
        api_key: "ANTHROPIC_API_KEY",
        base_url: &["ANTHROPIC_API_URI"],
        default_base: crate::anthropic::DEFAULT_BASE_URL,
        model: &["ANTHROPIC_AI_MODEL", "ANTHROPIC_MODEL"],
        default_model: "claude-opus-4-6",
        max_tokens: "ANTHROPIC_MAX_TOKENS",
        default_max_tokens: 200_000,
        keyless: false,
        format: Format::Anthropic,
    },
    Wire {
        key: "gemini",
        api_key: "GOOGLE_API_KEY",
        base_url: &["GOOGLE_API_URI", "GEMINI_API_URI"],
        default_base: crate::gemini::DEFAULT_BASE_URL,
        model: &["GOOGLE_AI_MODEL", "GOOGLE_MODEL", "GEMINI_MODEL"],
        default_model: "gemini-2.5-flash",
        max_tokens: "GOOGLE_MAX_TOKENS",
        default_max_tokens: 1_000_000,
        keyless: false,
        format: Format::Gemini,
    },
    // The deployment is Azure's model; the endpoint has no default (each resource has its own).
    Wire {
        key: "azure",
        api_key: "AZURE_API_KEY",
        base_url: &["AZURE_OPENAI_ENDPOINT"],
        default_base: "",
        model: &["AZURE_DEPLOYMENT_NAME", "AZURE_MODEL"],
        default_model: "gpt-4o",
        max_tokens: "AZURE_MAX_TOKENS",
        default_max_tokens: 120_000,
        keyless: false,
        format: Format::Azure,
    },
];

/// The `api-version` Azure OpenAI is called with unless `AZURE_API_VERSION` says otherwise.
pub const AZURE_API_VERSION: &str = "2024-10-21";

/// How many providers a call tries (reference 1.4).
pub const TRIES: usize = 3;

/// A provider to call, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub provider: &'static str,
    pub format: Format,
    pub base_url: String,
    /// The base URL came from the server's configuration (or is the provider's own).
    pub trusted: bool,
    pub api_key: String,
    /// The key comes from a layer below the base URL's (the server's or the company's key
    /// with a URL an agent or company set): it is never sent there.
    pub key_crosses: bool,
    pub model: String,
    pub max_tokens: u64,
    /// Azure's `api-version` (`AZURE_API_VERSION`).
    pub api_version: String,
}

impl Choice {
    /// Its client: a trusted base URL as configured, any other through the address rules.
    pub fn model(
        &self,
        clients: &Clients,
        timeouts: Timeouts,
    ) -> Result<Box<dyn ChatModel>, ProviderError> {
        if self.key_crosses {
            return Err(ProviderError::Refused {
                provider: self.provider.to_owned(),
                reason: "a base URL set on an agent or a company is called only with a key set \
                         on the same agent or company (another layer's key is never sent to it)"
                    .into(),
            });
        }
        let endpoint = if self.trusted {
            Endpoint::configured(&self.base_url, clients)
        } else {
            Endpoint::user_supplied(&self.base_url, clients).map_err(|error| {
                ProviderError::Refused {
                    provider: self.provider.to_owned(),
                    reason: error.to_string(),
                }
            })?
        };
        let (name, key, model) = (self.provider, self.api_key.as_str(), self.model.as_str());
        Ok(match self.format {
            Format::OpenAi => {
                Box::new(OpenAiCompatible::new(name, endpoint, key, model).with_timeouts(timeouts))
            }
            Format::Azure => Box::new(
                crate::azure::azure(name, endpoint, key, model, &self.api_version)
                    .with_timeouts(timeouts),
            ),
            Format::Anthropic => {
                Box::new(Anthropic::new(name, endpoint, key, model).with_timeouts(timeouts))
            }
            Format::Gemini => {
                Box::new(Gemini::new(name, endpoint, key, model).with_timeouts(timeouts))
            }
        })
    }
}

/// Why no provider can answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoProvider {
    #[error("No AI providers available for inference: set a provider's API key")]
    NoneConfigured,
}

fn first<'s>(settings: &'s Settings, names: &[&str]) -> Option<&'s Setting> {
    names
        .iter()
        .find_map(|name| settings.get(*name).filter(|s| !s.value.trim().is_empty()))
}

fn configured(wire: &Wire, settings: &Settings) -> Option<Choice> {
    let key = first(settings, &[wire.api_key]);
    let base = first(settings, wire.base_url);
    if key.is_none() && !(wire.keyless && base.is_some()) {
        return None;
    }
    let key_crosses = matches!((key, base), (Some(key), Some(base)) if key.layer < base.layer);
    let api_key = key.map(|s| s.value.trim().to_owned());
    let (base_url, trusted) = match base {
        Some(setting) => (
            setting.value.trim().to_owned(),
            setting.layer == Layer::Server,
        ),
        None => (wire.default_base.to_owned(), true),
    };
    if base_url.is_empty() {
        return None;
    }
    Some(Choice {
        provider: wire.key,
        format: wire.format,
        api_version: first(settings, &["AZURE_API_VERSION"]).map_or_else(
            || AZURE_API_VERSION.to_owned(),
            |s| s.value.trim().to_owned(),
        ),
        base_url,
        trusted,
        api_key: api_key.unwrap_or_default(),
        key_crosses,
        model: first(settings, wire.model).map_or_else(
            || wire.default_model.to_owned(),
            |s| s.value.trim().to_owned(),
        ),
        max_tokens: first(settings, &[wire.max_tokens])
            .and_then(|s| s.value.trim().parse().ok())
            .unwrap_or(wire.default_max_tokens),
    })
}

/// The providers to try for a prompt of `input_tokens`, in order (at most [`TRIES`]): the one
/// the `provider` setting names when it is configured; otherwise (`rotation`, unset, or a
/// provider without a key) every configured provider whose context fits, smallest first,
/// then the largest of those that do not fit.
pub fn choose(settings: &Settings, input_tokens: u64) -> Result<Vec<Choice>, NoProvider> {
    let named = settings
        .get("provider")
        .map(|s| s.value.trim().to_lowercase())
        .filter(|p| !p.is_empty() && p != "rotation");
    if let Some(choice) = named.as_ref().and_then(|named| {
        WIRES
            .iter()
            .find(|w| w.key == named)
            .and_then(|wire| configured(wire, settings))
    }) {
        return Ok(vec![choice]);
    }
    let mut all: Vec<Choice> = WIRES
        .iter()
        .filter_map(|w| configured(w, settings))
        .collect();
    if all.is_empty() {
        return Err(NoProvider::NoneConfigured);
    }
    all.sort_by_key(|c| c.max_tokens);
    let (mut fitting, mut too_small): (Vec<Choice>, Vec<Choice>) =
        all.into_iter().partition(|c| c.max_tokens >= input_tokens);
    // Largest first; ties keep the catalog's order, as among those that fit.
    too_small.sort_by_key(|c| std::cmp::Reverse(c.max_tokens));
    fitting.extend(too_small);
    fitting.truncate(TRIES);
    Ok(fitting)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn settings(pairs: &[(&str, &str, bool)]) -> Settings {
        pairs
            .iter()
            .map(|(name, value, server)| {
                (
                    (*name).to_owned(),
                    Setting {
                        value: (*value).to_owned(),
                        layer: if *server { Layer::Server } else { Layer::Agent },
                    },
                )
            })
            .collect()
    }

    #[test]
    fn the_named_provider_wins_when_configured() {
        let s = settings(&[
            ("provider", "deepseek", false),
            ("OPENAI_API_KEY", "sk-o", true),
            ("DEEPSEEK_API_KEY", "sk-d", false),
        ]);
        let chosen = choose(&s, 10).unwrap_or_default();
        assert_eq!(chosen.len(), 1);
        assert_eq!(chosen[0].provider, "deepseek");
        assert_eq!(chosen[0].model, "deepseek-chat");
        assert_eq!(chosen[0].base_url, "https://api.deepseek.com/v1");
        assert!(chosen[0].trusted, "the provider's own URL");
    }

    #[test]
    fn rotation_takes_the_smallest_context_that_fits_then_the_largest() {
        let s = settings(&[
            ("provider", "rotation", false),
            ("OPENAI_API_KEY", "sk-o", true),
            ("OPENROUTER_API_KEY", "sk-r", true),
            ("DEEPSEEK_API_KEY", "sk-d", true),
            ("XAI_API_KEY", "sk-x", true),
        ]);
        let order = |tokens| -> Vec<&'static str> {
            choose(&s, tokens)
                .unwrap_or_default()
                .iter()
                .map(|c| c.provider)
                .collect()
        };
        // openrouter 16k < deepseek 64k < openai = xai 128k.
        assert_eq!(order(1_000), ["openrouter", "deepseek", "openai"]);
        assert_eq!(order(100_000), ["openai", "xai", "deepseek"]);
        assert_eq!(
            order(1_000_000),
            ["openai", "xai", "deepseek"],
            "none fits: the largest"
        );
    }

    #[test]
    fn a_base_url_set_by_an_agent_or_company_is_untrusted_and_aliases_count() {
        let s = settings(&[
            ("OPENAI_API_KEY", "sk-agent", false),
            ("OPENAI_BASE_URI", "http://10.0.0.5:8000/v1", false),
            ("OPENAI_MODEL", "local-model", false),
        ]);
        let chosen = choose(&s, 10).unwrap_or_default();
        assert_eq!(chosen[0].base_url, "http://10.0.0.5:8000/v1");
        assert_eq!(chosen[0].model, "local-model");
        assert!(!chosen[0].trusted);
        let strict = Clients::new(Duration::from_secs(1), false).unwrap_or_else(|e| panic!("{e}"));
        let open = Clients::new(Duration::from_secs(1), true).unwrap_or_else(|e| panic!("{e}"));
        let refused = chosen[0].model(&strict, Timeouts::default()).err();
        assert!(
            matches!(refused, Some(ProviderError::Refused { .. })),
            "{refused:?}"
        );
        assert!(
            chosen[0].model(&open, Timeouts::default()).is_ok(),
            "allowed by the server"
        );
        // The same URL from the server's configuration is trusted.
        let s = settings(&[("EZLOCALAI_API_URI", "http://127.0.0.1:8091/v1", true)]);
        let chosen = choose(&s, 10).unwrap_or_default();
        assert_eq!((chosen[0].provider, chosen[0].trusted), ("ezlocalai", true));
        assert!(chosen[0].model(&strict, Timeouts::default()).is_ok());
    }

    #[test]
    fn another_layers_key_is_never_sent_to_a_url_an_agent_or_company_set() {
        let open = Clients::new(Duration::from_secs(1), true).unwrap_or_else(|e| panic!("{e}"));
        let setting = |value: &str, layer| Setting {
            value: value.into(),
            layer,
        };
        for (key_layer, url_layer, allowed) in [
            (Layer::Server, Layer::Agent, false),
            (Layer::Server, Layer::Company, false),
            (Layer::Company, Layer::Agent, false),
            (Layer::Agent, Layer::Agent, true),
            (Layer::Company, Layer::Company, true),
            (Layer::Agent, Layer::Server, true),
        ] {
            let s: Settings = [
                ("OPENAI_API_KEY".to_owned(), setting("sk-k", key_layer)),
                (
                    "OPENAI_API_URI".to_owned(),
                    setting("https://models.example/v1", url_layer),
                ),
            ]
            .into_iter()
            .collect();
            let chosen = choose(&s, 10).unwrap_or_default();
            let model = chosen[0].model(&open, Timeouts::default());
            assert_eq!(
                model.is_ok(),
                allowed,
                "{key_layer:?} key, {url_layer:?} URL"
            );
        }
    }

    #[test]
    fn nothing_configured_is_said_clearly_and_each_wire_format_is_chosen() {
        assert_eq!(choose(&settings(&[]), 10), Err(NoProvider::NoneConfigured));
        let s = settings(&[
            ("provider", "anthropic", false),
            ("ANTHROPIC_API_KEY", "sk-a", false),
        ]);
        let chosen = choose(&s, 10).unwrap_or_default();
        assert_eq!(
            (chosen[0].provider, chosen[0].format),
            ("anthropic", Format::Anthropic)
        );
        let s = settings(&[
            ("provider", "azure", false),
            ("AZURE_API_KEY", "k", false),
            ("AZURE_OPENAI_ENDPOINT", "https://r.openai.azure.com", false),
            ("AZURE_MODEL", "dep", false),
        ]);
        let chosen = choose(&s, 10).unwrap_or_default();
        assert_eq!(chosen[0].format, Format::Azure);
        assert_eq!(chosen[0].model, "dep", "AZURE_MODEL is an alias");
        assert_eq!(chosen[0].api_version, AZURE_API_VERSION);
        // Azure without its endpoint is not configured.
        let s = settings(&[("provider", "azure", false), ("AZURE_API_KEY", "k", false)]);
        assert_eq!(choose(&s, 10), Err(NoProvider::NoneConfigured));
        // A named provider without its key falls back to the rotation.
        let s = settings(&[("provider", "xai", false), ("OPENAI_API_KEY", "sk-o", true)]);
        assert_eq!(choose(&s, 10).unwrap_or_default()[0].provider, "openai");
        let s = settings(&[("GOOGLE_API_KEY", "g", true)]);
        assert_eq!(choose(&s, 10).unwrap_or_default()[0].format, Format::Gemini);
    }
}
