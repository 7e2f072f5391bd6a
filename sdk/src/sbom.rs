//! Software bills of materials: a small CycloneDX JSON builder.

use serde_json::{Value, json};

/// A CycloneDX (1.5, JSON) SBOM listing the components a layer contains.
#[derive(Debug, Clone, Default, PartialEq)]
#[must_use]
pub struct Sbom {
    components: Vec<Value>,
}

impl Sbom {
    /// An empty SBOM.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a library component; `purl` is its package URL (e.g. `pkg:npm/left-pad@1.3.0`),
    /// or empty.
    pub fn component(mut self, name: &str, version: &str, purl: &str) -> Self {
        let mut c = json!({ "type": "library", "name": name, "version": version });
        if !purl.is_empty() {
            c["purl"] = Value::from(purl);
        }
        self.components.push(c);
        self
    }

    /// The CycloneDX JSON document. No timestamps or serial numbers, so it is reproducible.
    pub fn to_json(&self) -> String {
        json!({
            "bomFormat": "CycloneDX",
            "specVersion": "1.5",
            "version": 1,
            "components": self.components,
        })
        .to_string()
    }
}
