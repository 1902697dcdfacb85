//! The YAML form of an output step: one output key beside an optional `when`.

use serde::{Deserialize, Serialize};

use super::process::{EsOutput, FileOutput, KafkaSinkOutput, Output, OutputStep, StdoutOutput};
use crate::condition::Condition;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutputStep {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    when: Option<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    elasticsearch: Option<EsOutput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kafka: Option<KafkaSinkOutput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stdout: Option<StdoutOutput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file: Option<FileOutput>,
}

impl TryFrom<RawOutputStep> for OutputStep {
    type Error = String;

    fn try_from(raw: RawOutputStep) -> Result<Self, String> {
        let mut outputs = Vec::new();
        if let Some(o) = raw.elasticsearch {
            outputs.push(("elasticsearch", Output::Elasticsearch(o)));
        }
        if let Some(o) = raw.kafka {
            outputs.push(("kafka", Output::Kafka(o)));
        }
        if let Some(o) = raw.stdout {
            outputs.push(("stdout", Output::Stdout(o)));
        }
        if let Some(o) = raw.file {
            outputs.push(("file", Output::File(o)));
        }
        if outputs.len() != 1 {
            let names: Vec<&str> = outputs.iter().map(|(name, _)| *name).collect();
            return Err(format!(
                "an output step needs exactly one of elasticsearch, kafka, stdout, file; found {}",
                if names.is_empty() { "none".to_string() } else { names.join(", ") }
            ));
        }
        let (_, output) = outputs.remove(0);
        Ok(OutputStep { when: raw.when, output })
    }
}

impl From<OutputStep> for RawOutputStep {
    fn from(step: OutputStep) -> Self {
        let mut raw = RawOutputStep { when: step.when, ..Default::default() };
        match step.output {
            Output::Elasticsearch(o) => raw.elasticsearch = Some(o),
            Output::Kafka(o) => raw.kafka = Some(o),
            Output::Stdout(o) => raw.stdout = Some(o),
            Output::File(o) => raw.file = Some(o),
        }
        raw
    }
}
