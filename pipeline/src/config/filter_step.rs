//! The YAML form of a filter step: one plugin key beside optional `when` and decorations.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::process::{DateFilter, Decorations, Filter, FilterArm, FilterStep, JsonFilter, MutateFilter, ParseFilter};
use crate::condition::Condition;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFilterStep {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    when: Option<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    json: Option<JsonFilter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nginx_combined: Option<ParseFilter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nginx_error: Option<ParseFilter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    date: Option<DateFilter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mutate: Option<MutateFilter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    branches: Option<Vec<FilterArm>>,
    // Decorations, spelled out: serde's `flatten` would defeat `deny_unknown_fields`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    add_tag: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    remove_tag: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    add_field: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    remove_field: Vec<String>,
}

impl TryFrom<RawFilterStep> for FilterStep {
    type Error = String;

    fn try_from(raw: RawFilterStep) -> Result<Self, String> {
        let mut found = Vec::new();
        let mut filter = None;
        let mut take = |name: &'static str, f: Option<Filter>| {
            if let Some(f) = f {
                found.push(name);
                filter = Some(f);
            }
        };
        take("json", raw.json.map(Filter::Json));
        take("nginx_combined", raw.nginx_combined.map(Filter::NginxCombined));
        take("nginx_error", raw.nginx_error.map(Filter::NginxError));
        take("date", raw.date.map(Filter::Date));
        take("mutate", raw.mutate.map(Filter::Mutate));
        take("branches", raw.branches.map(Filter::Branches));
        match (found.len(), filter) {
            (1, Some(filter)) => {
                let on_success = Decorations {
                    add_tag: raw.add_tag,
                    remove_tag: raw.remove_tag,
                    add_field: raw.add_field,
                    remove_field: raw.remove_field,
                };
                Ok(FilterStep { when: raw.when, filter, on_success })
            }
            _ => Err(format!(
                "a filter step needs exactly one of json, nginx_combined, nginx_error, date, mutate, branches; found {}",
                if found.is_empty() { "none".to_string() } else { found.join(", ") }
            )),
        }
    }
}

impl From<FilterStep> for RawFilterStep {
    fn from(step: FilterStep) -> Self {
        let Decorations { add_tag, remove_tag, add_field, remove_field } = step.on_success;
        let mut raw =
            RawFilterStep { when: step.when, add_tag, remove_tag, add_field, remove_field, ..Default::default() };
        match step.filter {
            Filter::Json(f) => raw.json = Some(f),
            Filter::NginxCombined(f) => raw.nginx_combined = Some(f),
            Filter::NginxError(f) => raw.nginx_error = Some(f),
            Filter::Date(f) => raw.date = Some(f),
            Filter::Mutate(f) => raw.mutate = Some(f),
            Filter::Branches(arms) => raw.branches = Some(arms),
        }
        raw
    }
}
