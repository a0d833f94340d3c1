//! Kyutai's `config.json`: the flat dictionary moshi_mlx's `LmConfig.from_config_dict`
//! reads, plus the names of the repo's other files.

use crate::lm_config::{ConditionerConfig, DepFormerConfig, LmConfig, TransformerConfig};
use crate::repo::{MIMI_FILE, TOKENIZER_FILE};
use crate::Quality;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Why a `config.json` could not be read; every variant names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The text is not JSON.
    #[error("config.json is not valid JSON")]
    Json(#[source] serde_json::Error),
    /// The document is not a JSON object.
    #[error("config.json must be a JSON object, found {found}")]
    NotAnObject {
        /// What it is instead.
        found: &'static str,
    },
    /// A key moshi_mlx requires is absent.
    #[error("config.json: missing key `{key}`")]
    Missing {
        /// The key (dotted for nested keys, e.g. `conditioners.description.lut.dim`).
        key: String,
    },
    /// A key has the wrong type or an impossible value.
    #[error("config.json: key `{key}` must be {expected}, found {found}")]
    Bad {
        /// The key.
        key: String,
        /// What it must be.
        expected: &'static str,
        /// What it is (the JSON value, shortened).
        found: String,
    },
}

/// A model repo's configuration: the LM and the files that go with it.
#[derive(Debug, Clone, PartialEq)]
pub struct RepoConfig {
    /// The LM hyper-parameters, as `LmConfig.from_config_dict` builds them.
    pub lm: LmConfig,
    /// `moshi_name`: the LM weight file, when the config names one. Without it the loader uses
    /// the standard file of the quality it wants ([`RepoConfig::moshi_file`]).
    pub moshi_name: Option<String>,
    /// `mimi_name`: Mimi's weights ([`MIMI_FILE`] when absent).
    pub mimi_name: String,
    /// `tokenizer_name`: the SentencePiece model ([`TOKENIZER_FILE`] when absent).
    pub tokenizer_name: String,
    /// Whether `config.json` named the tokenizer (`tokenizer_name`): then the file is
    /// required (a loader must fail when it is missing rather than run without a transcript);
    /// the standard name is only used when present.
    pub tokenizer_named: bool,
}

impl Default for RepoConfig {
    /// The built-in 7B ([`LmConfig::moshi_7b`]) with the standard file names: what a repo
    /// without `config.json` gets.
    fn default() -> Self {
        RepoConfig {
            lm: LmConfig::moshi_7b(),
            moshi_name: None,
            mimi_name: MIMI_FILE.to_string(),
            tokenizer_name: TOKENIZER_FILE.to_string(),
            tokenizer_named: false,
        }
    }
}

impl RepoConfig {
    /// Parses the text of a `config.json`.
    pub fn from_json_str(text: &str) -> Result<Self, ConfigError> {
        let v: Value = serde_json::from_str(text).map_err(ConfigError::Json)?;
        Self::from_value(&v)
    }

    /// Parses a parsed `config.json`.
    pub fn from_value(v: &Value) -> Result<Self, ConfigError> {
        let d = Dict::root(v)?;
        let tokenizer = d.opt_str("tokenizer_name")?;
        Ok(RepoConfig {
            lm: from_config_dict(&d)?,
            moshi_name: d.opt_str("moshi_name")?,
            mimi_name: d.opt_str("mimi_name")?.unwrap_or_else(|| MIMI_FILE.into()),
            tokenizer_named: tokenizer.is_some(),
            tokenizer_name: tokenizer.unwrap_or_else(|| TOKENIZER_FILE.into()),
        })
    }

    /// The LM weight file for `quality`: `moshi_name` when present, else the quality's
    /// standard name. (moshi_mlx's `run_inference.py` falls back to
    /// [`crate::DEFAULT_MOSHI_FILE`], the bf16 name, whatever quality it was asked for.)
    pub fn moshi_file(&self, quality: Quality) -> &str {
        self.moshi_name
            .as_deref()
            .unwrap_or_else(|| quality.lm_file())
    }

    /// The three files the engine loads, LM first: what a downloader must fetch besides
    /// `config.json` itself.
    pub fn files(&self, quality: Quality) -> [&str; 3] {
        [
            self.moshi_file(quality),
            &self.mimi_name,
            &self.tokenizer_name,
        ]
    }
}

/// Mirrors moshi_mlx 0.3's `LmConfig.from_config_dict` (models/lm.py) exactly: the same
/// required keys, the same defaults for optional ones, the same constants.
fn from_config_dict(d: &Dict) -> Result<LmConfig, ConfigError> {
    let dim = d.usize("dim")?;
    let mut transformer = TransformerConfig::moshi(
        dim,
        d.usize("num_heads")?,
        d.usize("num_layers")?,
        // from_config_dict ignores `hidden_scale`: the gated MLP then uses 11·dim/4.
        4 * dim,
        d.usize("context")?,
    );
    transformer.causal = d.bool("causal")?;
    transformer.layer_scale = d.nullable_f64("layer_scale")?;
    transformer.max_period = d.usize("max_period")?;
    transformer.cross_attention = d.opt_bool("cross_attention")?.unwrap_or(false);
    transformer.positional_embedding = d.string("positional_embedding")?;

    let dep_q = d.usize("dep_q")?;
    let mut dep = TransformerConfig::moshi(
        d.usize("depformer_dim")?,
        d.usize("depformer_num_heads")?,
        d.usize("depformer_num_layers")?,
        d.usize("depformer_dim_feedforward")?,
        d.opt_usize("depformer_context")?.unwrap_or(dep_q),
    );
    dep.causal = d.opt_bool("depformer_causal")?.unwrap_or(true);
    // Sic: moshi_mlx takes the depformer's attention bias from `depformer_layer_scale`.
    dep.bias_attn = d.truthy("depformer_layer_scale")?;
    dep.max_period = d.opt_usize("depformer_max_period")?.unwrap_or(8);
    dep.positional_embedding = d.string("depformer_pos_emb")?;

    let delays = d.usize_list("delays")?;
    let audio_delays = match delays.split_first() {
        Some((_text, audio)) => audio.to_vec(),
        None => return Err(d.bad("delays", "a non-empty list", &Value::Array(vec![]))),
    };
    let text_card = d.usize("text_card")?;
    Ok(LmConfig {
        transformer,
        depformer: DepFormerConfig {
            transformer: dep,
            num_slices: dep_q,
            weights_per_step_schedule: d.opt_usize_list("depformer_weights_per_step_schedule")?,
            low_rank_embeddings: d.opt_usize("depformer_low_rank_embeddings")?,
        },
        text_in_vocab_size: text_card + 1,
        text_out_vocab_size: text_card,
        audio_vocab_size: d.usize("card")? + 1,
        audio_delays,
        audio_codebooks: d.usize("n_q")?,
        demux_second_stream: d.opt_bool("demux_second_stream")?.unwrap_or(false),
        conditioners: conditioners(d)?,
        extra_heads_dim: d.opt_usize("extra_heads_dim")?.unwrap_or(6),
        extra_heads_num_heads: d.opt_usize("extra_heads_num_heads")?.unwrap_or(0),
    })
}

fn conditioners(d: &Dict) -> Result<BTreeMap<String, ConditionerConfig>, ConfigError> {
    let mut out = BTreeMap::new();
    let Some(all) = d.opt_object("conditioners")? else {
        return Ok(out);
    };
    for (name, _) in all.map {
        let c = all.object(name)?;
        let kind = c.string("type")?;
        let cfg = match kind.as_str() {
            "lut" => {
                let l = c.object("lut")?;
                ConditionerConfig::Lut {
                    n_bins: l.usize("n_bins")?,
                    dim: l.usize("dim")?,
                    tokenizer: l.string("tokenizer")?,
                    possible_values: l.string_list("possible_values")?,
                }
            }
            "tensor" => ConditionerConfig::Tensor {
                dim: c.object("tensor")?.usize("dim")?,
            },
            _ => return Err(c.bad("type", "\"lut\" or \"tensor\"", &Value::String(kind))),
        };
        out.insert(name.clone(), cfg);
    }
    Ok(out)
}

/// A JSON object with its dotted path, so every error names the full key.
struct Dict<'a> {
    map: &'a Map<String, Value>,
    prefix: String,
}

impl<'a> Dict<'a> {
    fn root(v: &'a Value) -> Result<Self, ConfigError> {
        match v {
            Value::Object(map) => Ok(Dict {
                map,
                prefix: String::new(),
            }),
            other => Err(ConfigError::NotAnObject { found: kind(other) }),
        }
    }

    fn key(&self, k: &str) -> String {
        format!("{}{k}", self.prefix)
    }

    fn bad(&self, k: &str, expected: &'static str, found: &Value) -> ConfigError {
        let mut found = found.to_string();
        if found.len() > 60 {
            let cut = (0..=57)
                .rev()
                .find(|i| found.is_char_boundary(*i))
                .unwrap_or(0);
            found.truncate(cut);
            found.push_str("...");
        }
        ConfigError::Bad {
            key: self.key(k),
            expected,
            found,
        }
    }

    /// The value of `k`, treating JSON `null` like Python's `dict.get` does: present.
    fn get(&self, k: &str) -> Result<&'a Value, ConfigError> {
        self.map
            .get(k)
            .ok_or_else(|| ConfigError::Missing { key: self.key(k) })
    }

    /// `data.get(k, default)`: absent or null both give `None` (a null default-able key
    /// would make moshi_mlx fail later; here it simply takes the default).
    fn opt(&self, k: &str) -> Option<&'a Value> {
        self.map.get(k).filter(|v| !v.is_null())
    }

    fn as_usize(&self, k: &str, v: &Value) -> Result<usize, ConfigError> {
        v.as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| self.bad(k, "a non-negative integer", v))
    }

    fn usize(&self, k: &str) -> Result<usize, ConfigError> {
        self.as_usize(k, self.get(k)?)
    }

    fn opt_usize(&self, k: &str) -> Result<Option<usize>, ConfigError> {
        self.opt(k).map(|v| self.as_usize(k, v)).transpose()
    }

    fn as_bool(&self, k: &str, v: &Value) -> Result<bool, ConfigError> {
        v.as_bool().ok_or_else(|| self.bad(k, "true or false", v))
    }

    fn bool(&self, k: &str) -> Result<bool, ConfigError> {
        self.as_bool(k, self.get(k)?)
    }

    fn opt_bool(&self, k: &str) -> Result<Option<bool>, ConfigError> {
        self.opt(k).map(|v| self.as_bool(k, v)).transpose()
    }

    /// Python truthiness of an optional flag-or-number (absent, null, false, 0: false).
    fn truthy(&self, k: &str) -> Result<bool, ConfigError> {
        match self.opt(k) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::Number(n)) => Ok(n.as_f64().is_some_and(|x| x != 0.0)),
            Some(v) => Err(self.bad(k, "null, a boolean or a number", v)),
        }
    }

    fn nullable_f64(&self, k: &str) -> Result<Option<f64>, ConfigError> {
        match self.get(k)? {
            Value::Null => Ok(None),
            v => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.bad(k, "null or a number", v)),
        }
    }

    fn string(&self, k: &str) -> Result<String, ConfigError> {
        let v = self.get(k)?;
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| self.bad(k, "a string", v))
    }

    fn opt_str(&self, k: &str) -> Result<Option<String>, ConfigError> {
        match self.opt(k) {
            None => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
            Some(v) => Err(self.bad(k, "a file name", v)),
        }
    }

    fn as_usize_list(&self, k: &str, v: &Value) -> Result<Vec<usize>, ConfigError> {
        let items = v
            .as_array()
            .ok_or_else(|| self.bad(k, "a list of non-negative integers", v))?;
        items
            .iter()
            .map(|x| {
                x.as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| self.bad(k, "a list of non-negative integers", v))
            })
            .collect()
    }

    fn usize_list(&self, k: &str) -> Result<Vec<usize>, ConfigError> {
        self.as_usize_list(k, self.get(k)?)
    }

    fn opt_usize_list(&self, k: &str) -> Result<Option<Vec<usize>>, ConfigError> {
        self.opt(k).map(|v| self.as_usize_list(k, v)).transpose()
    }

    fn string_list(&self, k: &str) -> Result<Vec<String>, ConfigError> {
        let v = self.get(k)?;
        let items = v
            .as_array()
            .ok_or_else(|| self.bad(k, "a list of strings", v))?;
        items
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| self.bad(k, "a list of strings", v))
            })
            .collect()
    }

    fn as_object(&self, k: &str, v: &'a Value) -> Result<Dict<'a>, ConfigError> {
        match v {
            Value::Object(map) => Ok(Dict {
                map,
                prefix: format!("{}.", self.key(k)),
            }),
            other => Err(self.bad(k, "an object", other)),
        }
    }

    fn object(&self, k: &str) -> Result<Dict<'a>, ConfigError> {
        self.as_object(k, self.get(k)?)
    }

    fn opt_object(&self, k: &str) -> Result<Option<Dict<'a>>, ConfigError> {
        self.opt(k).map(|v| self.as_object(k, v)).transpose()
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DEFAULT_MOSHI_FILE;
    use serde_json::json;

    fn seven_b() -> Value {
        serde_json::from_str(include_str!("../tests/data/moshi_7b_202409.json"))
            .expect("test data is JSON")
    }

    #[test]
    fn the_7b_config_is_the_built_in_one() {
        let c = RepoConfig::from_value(&seven_b()).expect("parses");
        assert_eq!(c.lm, LmConfig::moshi_7b());
        assert_eq!(c, RepoConfig::default());
        assert_eq!(
            c.files(Quality::Q8),
            ["model.q8.safetensors", MIMI_FILE, TOKENIZER_FILE]
        );
    }

    #[test]
    fn missing_keys_are_named() {
        for key in [
            "dim",
            "causal",
            "layer_scale",
            "dep_q",
            "depformer_pos_emb",
            "delays",
        ] {
            let mut v = seven_b();
            v.as_object_mut().expect("object").remove(key);
            let e = RepoConfig::from_value(&v).expect_err("must fail");
            assert!(
                matches!(&e, ConfigError::Missing { key: k } if k == key),
                "{key}: {e}"
            );
            assert!(e.to_string().contains(&format!("`{key}`")), "{e}");
        }
    }

    #[test]
    fn optional_keys_take_moshi_mlx_defaults() {
        let mut v = seven_b();
        let o = v.as_object_mut().expect("object");
        for key in [
            "depformer_context",
            "depformer_max_period",
            "depformer_causal",
        ] {
            o.remove(key);
        }
        let c = RepoConfig::from_value(&v).expect("parses");
        assert_eq!(c.lm.depformer.transformer.context, 8, "dep_q");
        assert_eq!(c.lm.depformer.transformer.max_period, 8);
        assert!(c.lm.depformer.transformer.causal);
    }

    #[test]
    fn bad_values_are_named() {
        let cases = [
            ("dim", json!("4096"), "dim"),
            ("num_heads", json!(-1), "num_heads"),
            ("layer_scale", json!("x"), "layer_scale"),
            ("delays", json!([0, "1"]), "delays"),
            ("delays", json!([]), "delays"),
            ("mimi_name", json!(3), "mimi_name"),
            (
                "conditioners",
                json!({"d": {"type": "lut"}}),
                "conditioners.d.lut",
            ),
            (
                "conditioners",
                json!({"d": {"type": "x"}}),
                "conditioners.d.type",
            ),
            (
                "conditioners",
                json!({"d": {"type": "tensor", "tensor": {}}}),
                "conditioners.d.tensor.dim",
            ),
        ];
        for (key, value, named) in cases {
            let mut v = seven_b();
            v.as_object_mut().expect("object").insert(key.into(), value);
            let e = RepoConfig::from_value(&v).expect_err("must fail");
            let k = match &e {
                ConfigError::Missing { key } | ConfigError::Bad { key, .. } => key.clone(),
                other => panic!("{other}"),
            };
            assert_eq!(k, named, "{e}");
        }
        assert!(matches!(
            RepoConfig::from_json_str("[1]"),
            Err(ConfigError::NotAnObject { found: "a list" })
        ));
        assert!(matches!(
            RepoConfig::from_json_str("{"),
            Err(ConfigError::Json(_))
        ));
    }

    #[test]
    fn file_names_come_from_the_config() {
        let mut v = seven_b();
        let o = v.as_object_mut().expect("object");
        o.insert("moshi_name".into(), json!("weights/lm.bin"));
        o.insert("mimi_name".into(), json!("mimi.safetensors"));
        o.insert("tokenizer_name".into(), json!("spm.model"));
        let c = RepoConfig::from_value(&v).expect("parses");
        assert_eq!(
            c.files(Quality::Q4),
            ["weights/lm.bin", "mimi.safetensors", "spm.model"]
        );
        let d = RepoConfig::default();
        assert_eq!(d.moshi_file(Quality::Bf16), DEFAULT_MOSHI_FILE);
        assert_eq!(d.moshi_file(Quality::Q4), "model.q4.safetensors");
    }
}
