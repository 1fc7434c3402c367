//! The static catalog of AI providers (reference agents-memory.md 1.2): the 13 providers AGiXT
//! ships, their services and their settings with defaults, as `/v1/providers` lists them.
//!
//! Defaults are strings, as settings are stored. A setting the reference lists without a
//! default has `""`. Where the reference elides settings ("…", `AZURE_WAIT_*`), the names
//! below are **Agentry's inference**, following the pattern the complete entries (OpenAI,
//! Anthropic) show, with OpenAI's defaults for the same suffix (`_TEMPERATURE` "0.7",
//! `_TOP_P` "0.9", `_WAIT_BETWEEN_REQUESTS` "1", `_WAIT_AFTER_FAILURE` "3", else ""):
//! - azure: `AZURE_WAIT_BETWEEN_REQUESTS`, `AZURE_WAIT_AFTER_FAILURE` (for `AZURE_WAIT_*`);
//! - chutes: `CHUTES_TEMPERATURE`, `CHUTES_TOP_P`, `CHUTES_WAIT_BETWEEN_REQUESTS`,
//!   `CHUTES_WAIT_AFTER_FAILURE`;
//! - deepinfra: `DEEPINFRA_VISION_MODEL`, `DEEPINFRA_CODING_MODEL`, `DEEPINFRA_TEMPERATURE`,
//!   `DEEPINFRA_TOP_P`, `DEEPINFRA_WAIT_BETWEEN_REQUESTS`, `DEEPINFRA_WAIT_AFTER_FAILURE`;
//! - deepseek: `DEEPSEEK_TEMPERATURE`, `DEEPSEEK_TOP_P`, `DEEPSEEK_WAIT_BETWEEN_REQUESTS`,
//!   `DEEPSEEK_WAIT_AFTER_FAILURE`;
//! - huggingface: `HUGGINGFACE_TEMPERATURE`, `HUGGINGFACE_WAIT_BETWEEN_REQUESTS`,
//!   `HUGGINGFACE_WAIT_AFTER_FAILURE`;
//! - openrouter: `OPENROUTER_TEMPERATURE`, `OPENROUTER_TOP_P`,
//!   `OPENROUTER_WAIT_BETWEEN_REQUESTS`, `OPENROUTER_WAIT_AFTER_FAILURE`;
//! - xai: `XAI_TEMPERATURE`, `XAI_TOP_P`, `XAI_WAIT_BETWEEN_REQUESTS`,
//!   `XAI_WAIT_AFTER_FAILURE`.
//!
//! Every other setting, and every non-empty default, is the reference's.

/// One AI provider: what `/v1/providers` shows for it.
#[derive(Debug, Clone, Copy)]
pub struct ProviderSpec {
    /// The lower-case key, e.g. "openai".
    pub key: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    /// Of `llm, tts, image, embeddings, transcription, translation, vision` (and ezlocalai's
    /// `video`).
    pub services: &'static [&'static str],
    /// (setting, default), in the reference's order.
    pub settings: &'static [(&'static str, &'static str)],
}

impl ProviderSpec {
    /// The setting names that hold the provider's API key(s) (names ending in `_API_KEY`):
    /// what "connected" checks look at.
    pub fn key_settings(&self) -> impl Iterator<Item = &'static str> {
        self.settings
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| name.ends_with("_API_KEY"))
    }

    pub fn has_service(&self, service: &str) -> bool {
        self.services
            .iter()
            .any(|own| own.eq_ignore_ascii_case(service))
    }
}

/// Every provider, sorted by key.
pub fn catalog() -> &'static [ProviderSpec] {
    CATALOG
}

/// The provider with this key (exact, lower case, as the reference's keys are).
pub fn provider(key: &str) -> Option<&'static ProviderSpec> {
    CATALOG.iter().find(|spec| spec.key == key)
}

const LLM_VISION: &[&str] = &["llm", "vision"];

static CATALOG: &[ProviderSpec] = &[
    ProviderSpec {
        key: "anthropic",
        name: "Anthropic Claude",
        description: "Anthropic's Claude models for chat and image understanding.",
        services: LLM_VISION,
        settings: &[
            ("ANTHROPIC_API_KEY", ""),
            ("ANTHROPIC_AI_MODEL", "claude-opus-4-6"),
            ("ANTHROPIC_MAX_TOKENS", "200000"),
            ("ANTHROPIC_TEMPERATURE", "0.7"),
            ("ANTHROPIC_FAST_MODE", "false"),
            ("ANTHROPIC_WAIT_BETWEEN_REQUESTS", "1"),
        ],
    },
    ProviderSpec {
        key: "azure",
        name: "Azure OpenAI",
        description: "OpenAI models deployed in your own Azure OpenAI resource.",
        services: LLM_VISION,
        settings: &[
            ("AZURE_API_KEY", ""),
            ("AZURE_OPENAI_ENDPOINT", ""),
            ("AZURE_DEPLOYMENT_NAME", "gpt-4o"),
            ("AZURE_TEMPERATURE", ""),
            ("AZURE_TOP_P", ""),
            ("AZURE_MAX_TOKENS", "120000"),
            ("AZURE_WAIT_BETWEEN_REQUESTS", "1"),
            ("AZURE_WAIT_AFTER_FAILURE", "3"),
        ],
    },
    ProviderSpec {
        key: "chutes",
        name: "Chutes.ai",
        description: "Open models served by Chutes.ai through an OpenAI-compatible API.",
        services: LLM_VISION,
        settings: &[
            ("CHUTES_API_KEY", ""),
            ("CHUTES_ENDPOINT_URL", ""),
            ("CHUTES_MODEL", ""),
            ("CHUTES_VISION_MODEL", ""),
            ("CHUTES_CODING_MODEL", ""),
            ("CHUTES_MAX_TOKENS", "128000"),
            ("CHUTES_TEMPERATURE", "0.7"),
            ("CHUTES_TOP_P", "0.9"),
            ("CHUTES_WAIT_BETWEEN_REQUESTS", "1"),
            ("CHUTES_WAIT_AFTER_FAILURE", "3"),
        ],
    },
    ProviderSpec {
        key: "deepinfra",
        name: "DeepInfra",
        description: "Open models hosted by DeepInfra through an OpenAI-compatible API.",
        services: LLM_VISION,
        settings: &[
            ("DEEPINFRA_API_KEY", ""),
            ("DEEPINFRA_ENDPOINT_URL", ""),
            ("DEEPINFRA_MODEL", ""),
            ("DEEPINFRA_VISION_MODEL", ""),
            ("DEEPINFRA_CODING_MODEL", ""),
            ("DEEPINFRA_MAX_TOKENS", "128000"),
            ("DEEPINFRA_TEMPERATURE", "0.7"),
            ("DEEPINFRA_TOP_P", "0.9"),
            ("DEEPINFRA_WAIT_BETWEEN_REQUESTS", "1"),
            ("DEEPINFRA_WAIT_AFTER_FAILURE", "3"),
        ],
    },
    ProviderSpec {
        key: "deepseek",
        name: "DeepSeek",
        description: "DeepSeek's chat and reasoning models.",
        services: LLM_VISION,
        settings: &[
            ("DEEPSEEK_API_KEY", ""),
            ("DEEPSEEK_MODEL", "deepseek-chat"),
            ("DEEPSEEK_API_URI", ""),
            ("DEEPSEEK_MAX_TOKENS", "64000"),
            ("DEEPSEEK_TEMPERATURE", "0.7"),
            ("DEEPSEEK_TOP_P", "0.9"),
            ("DEEPSEEK_WAIT_BETWEEN_REQUESTS", "1"),
            ("DEEPSEEK_WAIT_AFTER_FAILURE", "3"),
        ],
    },
    ProviderSpec {
        key: "elevenlabs",
        name: "ElevenLabs",
        description: "ElevenLabs text-to-speech voices.",
        services: &["tts"],
        settings: &[("ELEVENLABS_API_KEY", ""), ("ELEVENLABS_VOICE", "")],
    },
    ProviderSpec {
        key: "ezlocalai",
        name: "ezLocalai",
        description: "A self-hosted ezLocalai server: local models for text, speech, images, transcription and embeddings.",
        services: &[
            "llm",
            "tts",
            "image",
            "transcription",
            "translation",
            "vision",
            "embeddings",
            "video",
        ],
        settings: &[
            ("EZLOCALAI_API_URI", ""),
            ("EZLOCALAI_API_KEY", ""),
            ("EZLOCALAI_AI_MODEL", ""),
            ("EZLOCALAI_CODING_MODEL", ""),
            ("EZLOCALAI_MAX_TOKENS", "250000"),
            ("EZLOCALAI_TEMPERATURE", "1.33"),
            ("EZLOCALAI_TOP_P", ""),
            ("EZLOCALAI_VOICE", ""),
            ("EZLOCALAI_LANGUAGE", ""),
            ("EZLOCALAI_TRANSCRIPTION_MODEL", ""),
        ],
    },
    ProviderSpec {
        key: "gemini",
        name: "Google Gemini",
        description: "Google's Gemini models for chat, speech and image understanding.",
        services: &["llm", "tts", "vision"],
        settings: &[
            ("GOOGLE_API_KEY", ""),
            ("GOOGLE_AI_MODEL", ""),
            ("GOOGLE_MAX_TOKENS", "1000000"),
            ("GOOGLE_TEMPERATURE", ""),
        ],
    },
    ProviderSpec {
        key: "huggingface",
        name: "Hugging Face",
        description: "Models on Hugging Face's Inference API for text and image generation.",
        services: &["llm", "image"],
        settings: &[
            ("HUGGINGFACE_API_KEY", ""),
            ("HUGGINGFACE_MODEL", ""),
            ("HUGGINGFACE_TEMPERATURE", "0.7"),
            ("HUGGINGFACE_WAIT_BETWEEN_REQUESTS", "1"),
            ("HUGGINGFACE_WAIT_AFTER_FAILURE", "3"),
            ("HUGGINGFACE_MAX_TOKENS", "1024"),
        ],
    },
    ProviderSpec {
        key: "openai",
        name: "OpenAI",
        description: "OpenAI's API, or any OpenAI-compatible server: chat, vision, speech, images, transcription and embeddings.",
        services: &[
            "llm",
            "tts",
            "image",
            "transcription",
            "translation",
            "vision",
            "embeddings",
        ],
        settings: &[
            ("OPENAI_API_KEY", ""),
            ("OPENAI_API_URI", "https://api.openai.com/v1"),
            ("OPENAI_AI_MODEL", "gpt-4o"),
            ("OPENAI_VISION_MODEL", ""),
            ("OPENAI_CODING_MODEL", ""),
            ("OPENAI_MAX_TOKENS", "128000"),
            ("OPENAI_TEMPERATURE", "0.7"),
            ("OPENAI_TOP_P", "0.9"),
            ("OPENAI_VOICE", "alloy"),
            ("OPENAI_TRANSCRIPTION_MODEL", "whisper-1"),
            ("OPENAI_WAIT_BETWEEN_REQUESTS", "1"),
            ("OPENAI_WAIT_AFTER_FAILURE", "3"),
        ],
    },
    ProviderSpec {
        key: "openrouter",
        name: "OpenRouter",
        description: "One API key for many vendors' models, routed by OpenRouter.",
        services: LLM_VISION,
        settings: &[
            ("OPENROUTER_API_KEY", ""),
            ("OPENROUTER_API_URI", ""),
            ("OPENROUTER_AI_MODEL", ""),
            ("OPENROUTER_CODING_MODEL", ""),
            ("OPENROUTER_MAX_TOKENS", "16384"),
            ("OPENROUTER_TEMPERATURE", "0.7"),
            ("OPENROUTER_TOP_P", "0.9"),
            ("OPENROUTER_WAIT_BETWEEN_REQUESTS", "1"),
            ("OPENROUTER_WAIT_AFTER_FAILURE", "3"),
        ],
    },
    ProviderSpec {
        key: "perplexity",
        name: "Perplexity",
        description: "Perplexity's search-grounded models.",
        services: &[],
        settings: &[("PERPLEXITY_API_KEY", ""), ("PERPLEXITY_MODEL", "")],
    },
    ProviderSpec {
        key: "xai",
        name: "xAI Grok",
        description: "xAI's Grok models for chat and image understanding.",
        services: LLM_VISION,
        settings: &[
            ("XAI_API_KEY", ""),
            ("XAI_API_URI", ""),
            ("XAI_AI_MODEL", ""),
            ("XAI_MAX_TOKENS", "128000"),
            ("XAI_TEMPERATURE", "0.7"),
            ("XAI_TOP_P", "0.9"),
            ("XAI_WAIT_BETWEEN_REQUESTS", "1"),
            ("XAI_WAIT_AFTER_FAILURE", "3"),
        ],
    },
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    const SERVICES: [&str; 8] = [
        "llm",
        "tts",
        "image",
        "embeddings",
        "transcription",
        "translation",
        "vision",
        "video",
    ];

    #[test]
    fn thirteen_providers_sorted_with_unique_keys() {
        let keys: Vec<&str> = catalog().iter().map(|spec| spec.key).collect();
        assert_eq!(
            keys,
            [
                "anthropic",
                "azure",
                "chutes",
                "deepinfra",
                "deepseek",
                "elevenlabs",
                "ezlocalai",
                "gemini",
                "huggingface",
                "openai",
                "openrouter",
                "perplexity",
                "xai",
            ]
        );
        let unique: BTreeSet<&str> = keys.iter().copied().collect();
        assert_eq!(unique.len(), 13);
    }

    #[test]
    fn every_entry_is_well_formed() {
        for spec in catalog() {
            assert!(
                !spec.name.is_empty() && !spec.description.is_empty(),
                "{}",
                spec.key
            );
            assert!(
                spec.services.iter().all(|s| SERVICES.contains(s)),
                "{}",
                spec.key
            );
            let names: BTreeSet<&str> = spec.settings.iter().map(|(name, _)| *name).collect();
            assert_eq!(
                names.len(),
                spec.settings.len(),
                "{}: duplicate setting",
                spec.key
            );
            assert!(spec.key_settings().count() >= 1, "{}: no API key", spec.key);
            assert!(
                spec.settings
                    .iter()
                    .any(|(name, _)| name.ends_with("_MAX_TOKENS"))
                    || matches!(spec.key, "elevenlabs" | "perplexity"),
                "{}",
                spec.key
            );
        }
    }

    #[test]
    fn openai_defaults_match_the_reference() {
        let openai = provider("openai").unwrap();
        assert!(openai.has_service("embeddings"));
        assert!(openai.has_service("llm"));
        assert!(!openai.has_service("video"));
        let setting = |name: &str| {
            openai
                .settings
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| *value)
        };
        assert_eq!(setting("OPENAI_API_URI"), Some("https://api.openai.com/v1"));
        assert_eq!(setting("OPENAI_AI_MODEL"), Some("gpt-4o"));
        assert_eq!(setting("OPENAI_MAX_TOKENS"), Some("128000"));
        assert_eq!(setting("OPENAI_API_KEY"), Some(""));
        assert_eq!(
            openai.key_settings().collect::<Vec<_>>(),
            ["OPENAI_API_KEY"]
        );
    }

    #[test]
    fn other_listed_defaults() {
        let default = |key: &str, name: &str| {
            provider(key)
                .and_then(|spec| spec.settings.iter().find(|(n, _)| *n == name))
                .map(|(_, value)| *value)
        };
        assert_eq!(default("anthropic", "ANTHROPIC_FAST_MODE"), Some("false"));
        assert_eq!(default("anthropic", "ANTHROPIC_MAX_TOKENS"), Some("200000"));
        assert_eq!(default("ezlocalai", "EZLOCALAI_TEMPERATURE"), Some("1.33"));
        assert_eq!(default("gemini", "GOOGLE_MAX_TOKENS"), Some("1000000"));
        assert!(provider("perplexity").unwrap().services.is_empty());
        assert!(provider("ezlocalai").unwrap().has_service("video"));
        assert!(provider("rotation").is_none());
        let embedders: Vec<&str> = catalog()
            .iter()
            .filter(|spec| spec.has_service("embeddings"))
            .map(|spec| spec.key)
            .collect();
        assert_eq!(embedders, ["ezlocalai", "openai"]);
    }
}
