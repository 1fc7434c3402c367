//! Configuration: defaults, the file, the environment's names, and refusals with clear causes.
#![expect(clippy::unwrap_used, reason = "helpers of a test crate")]

use std::fs;

use agentry::config::{Config, ConfigError, GENERATED_KEY_FILE, LogFormat, Settings};
use agentry_store::{Backend, DatabaseUrl};

fn in_dir(dir: &tempfile::TempDir) -> Settings {
    Settings {
        data_dir: Some(dir.path().join("data")),
        ..Settings::default()
    }
}

fn error(settings: Settings) -> String {
    Config::load(settings).unwrap_err().to_string()
}

#[test]
fn defaults_give_a_working_sqlite_server() {
    let dir = tempfile::tempdir().unwrap();
    let (config, notices) = Config::load(in_dir(&dir)).unwrap();
    let data = dir.path().join("data");
    assert!(data.is_dir(), "the data directory is created");
    assert_eq!(
        config.database,
        DatabaseUrl::sqlite(data.join("agentry.db"))
    );
    assert_eq!((config.host.as_str(), config.port), ("127.0.0.1", 7437));
    assert_eq!(config.public_uri, "http://localhost:7437");
    assert_eq!(config.log_format, LogFormat::Text);
    assert_eq!(config.log_level, "info");
    assert_eq!(config.max_body_bytes, 16 * 1024 * 1024);
    assert_eq!(config.db_pool_size, 8);
    assert!(config.workers >= 1);
    assert!(config.superadmin_email.is_none(), "no default super admin");
    assert!(config.redis_url.is_none());

    // The generated key is kept, private, and reused; the notice comes once.
    let key_file = data.join(GENERATED_KEY_FILE);
    let key = fs::read_to_string(&key_file).unwrap();
    assert_eq!(key.len(), 64);
    assert_eq!(config.api_key.expose(), key);
    assert_eq!(notices.len(), 1);
    assert!(notices[0].contains("AGIXT_API_KEY"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let (again, notices) = Config::load(in_dir(&dir)).unwrap();
    assert_eq!(again.api_key, config.api_key);
    assert!(notices.is_empty());
    assert!(
        !format!("{config:?}").contains(&key),
        "Debug never shows the key"
    );
}

#[test]
fn environment_names_and_values_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        database_url: Some(format!("sqlite://{}/elsewhere/a.db", dir.path().display())),
        host: Some("0.0.0.0".into()),
        port: Some(9000),
        api_key: Some("k".repeat(40)),
        superadmin_email: Some(" Admin@Example.COM ".into()),
        log_level: Some("WARNING".into()),
        redis_url: Some("redis://127.0.0.1:6379".into()),
        ..in_dir(&dir)
    };
    let (config, notices) = Config::load(settings).unwrap();
    assert!(notices.is_empty());
    assert!(
        dir.path().join("elsewhere").is_dir(),
        "the SQLite file's folder is created"
    );
    assert_eq!(config.public_uri, "http://localhost:9000");
    assert_eq!(
        config.superadmin_email.as_deref(),
        Some("admin@example.com")
    );
    assert_eq!(config.log_level, "warn");
    assert!(!dir.path().join("data").join(GENERATED_KEY_FILE).exists());
}

#[test]
fn the_file_fills_what_flags_and_environment_leave_unset() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agentry.toml");
    fs::write(
        &file,
        "port = 8000\nlog_format = \"json\"\nworkers = 3\nuri = \"https://agents.example.com/\"\n",
    )
    .unwrap();
    let settings = Settings {
        config: Some(file.clone()),
        port: Some(9100),
        ..in_dir(&dir)
    };
    let (config, _) = Config::load(settings).unwrap();
    assert_eq!(config.port, 9100, "the environment wins over the file");
    assert_eq!(config.log_format, LogFormat::Json);
    assert_eq!(config.workers, 3);
    assert_eq!(config.public_uri, "https://agents.example.com");

    fs::write(&file, "prot = 8000\n").unwrap();
    let message = error(Settings {
        config: Some(file.clone()),
        ..in_dir(&dir)
    });
    assert!(
        message.contains("agentry.toml") && message.contains("prot"),
        "{message}"
    );

    let message = error(Settings {
        config: Some(dir.path().join("missing.toml")),
        ..in_dir(&dir)
    });
    assert!(message.contains("cannot read config file"), "{message}");
}

#[test]
fn postgres_needs_a_shared_api_key() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        database_url: Some("postgres://postgres@127.0.0.1:5432/agentry".into()),
        ..in_dir(&dir)
    };
    let message = error(settings.clone());
    assert!(
        message.contains("AGIXT_API_KEY is required with PostgreSQL"),
        "{message}"
    );
    let (config, _) = Config::load(Settings {
        api_key: Some("shared".into()),
        ..settings
    })
    .unwrap();
    assert_eq!(config.database.backend(), Backend::Postgres);
    assert_eq!(config.db_pool_size, 16);
    // The LISTEN/NOTIFY connection takes the URL's TLS settings; one it cannot honour is
    // refused at startup, not left as a bus that never connects.
    let message = error(Settings {
        api_key: Some("shared".into()),
        database_url: Some(
            "postgres://postgres@127.0.0.1:5432/agentry?sslmode=require&sslcert=%2Fc.crt".into(),
        ),
        ..in_dir(&dir)
    });
    assert!(message.contains("client certificates"), "{message}");
}

#[test]
fn bad_values_are_refused_with_their_name() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(Settings, &str)> = vec![
        (
            Settings {
                database_url: Some("mysql://root@localhost/x".into()),
                ..in_dir(&dir)
            },
            "DATABASE_URL",
        ),
        (
            Settings {
                database_url: Some("sqlite://".into()),
                ..in_dir(&dir)
            },
            "DATABASE_URL",
        ),
        (
            Settings {
                host: Some("not a host".into()),
                ..in_dir(&dir)
            },
            "AGENTRY_HOST",
        ),
        (
            Settings {
                uri: Some("ftp://x".into()),
                ..in_dir(&dir)
            },
            "AGIXT_URI",
        ),
        (
            Settings {
                redis_url: Some("http://x".into()),
                ..in_dir(&dir)
            },
            "REDIS_URL",
        ),
        (
            Settings {
                superadmin_email: Some("nobody".into()),
                ..in_dir(&dir)
            },
            "SUPERADMIN_EMAIL",
        ),
        (
            Settings {
                log_level: Some("loud".into()),
                ..in_dir(&dir)
            },
            "LOG_LEVEL",
        ),
        (
            Settings {
                max_body_bytes: Some(10),
                ..in_dir(&dir)
            },
            "AGENTRY_MAX_BODY_BYTES",
        ),
        (
            Settings {
                workers: Some(0),
                ..in_dir(&dir)
            },
            "AGENTRY_WORKERS",
        ),
        (
            Settings {
                db_pool_size: Some(0),
                ..in_dir(&dir)
            },
            "AGENTRY_DB_POOL_SIZE",
        ),
    ];
    for (settings, name) in cases {
        let message = error(settings);
        assert!(message.contains(name), "{name}: {message}");
    }
}

#[test]
fn a_data_directory_under_a_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    fs::write(&file, "x").unwrap();
    let result = Config::load(Settings {
        data_dir: Some(file.join("data")),
        ..Settings::default()
    });
    let Err(error @ ConfigError::DataDir { .. }) = result else {
        panic!("expected a data directory error");
    };
    assert!(error.to_string().contains("plain-file/data"), "{error}");
}
