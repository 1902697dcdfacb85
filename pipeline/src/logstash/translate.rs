//! A parsed Logstash pipeline → our `process` config. Each plugin and setting we support maps onto
//! one config field; anything else is a `Problem` naming its place.

use super::ast::{Item, Pipeline, Plugin};
use super::attrs::Attrs;
use super::Problem;
use crate::condition::Condition;
use crate::config::*;

pub fn process(pipeline: &Pipeline) -> Result<ProcessConfig, Problem> {
    let input = input(&pipeline.inputs)?;
    let filters = filters(&pipeline.filters)?;
    let mut outputs = Vec::new();
    collect_outputs(&pipeline.outputs, None, &mut outputs)?;
    Ok(ProcessConfig { input: ProcessInput { kafka: input }, filters, outputs, dead_letter: None })
}

fn input(items: &[Item]) -> Result<KafkaInputConfig, Problem> {
    let mut found = None;
    for item in items {
        let plugin = match item {
            Item::Plugin(p) => p,
            Item::Branch(b) => return Err(Problem::unsupported("conditional in the input section", b.arms[0].pos)),
        };
        if plugin.name != "kafka" {
            return Err(Problem::unsupported(format!("plugin `{}`", plugin.name), plugin.pos));
        }
        if found.is_some() {
            return Err(Problem::unsupported("a second kafka input", plugin.pos));
        }
        found = Some(kafka_input(plugin)?);
    }
    found.ok_or_else(|| Problem::invalid("the pipeline needs a kafka input", crate::scan::Pos { line: 1, column: 1 }))
}

fn kafka_input(plugin: &Plugin) -> Result<KafkaInputConfig, Problem> {
    let mut a = Attrs::new(plugin)?;
    let _id = a.string("id")?;
    let brokers = a.string("bootstrap_servers")?.unwrap_or_else(|| "localhost:9092".into());
    let topics = a.strings("topics")?.unwrap_or_else(|| vec!["logstash".into()]);
    let group_id = a.string("group_id")?.unwrap_or_else(|| "logstash".into());
    let auto_offset_reset = match a.take("auto_offset_reset") {
        None => OffsetReset::Latest,
        Some(attr) => match scalar_text(attr) {
            Some("earliest") => OffsetReset::Earliest,
            Some("latest") => OffsetReset::Latest,
            _ => return Err(Problem::unsupported("auto_offset_reset (only earliest or latest)", attr.pos)),
        },
    };
    let codec = match a.codec()? {
        None => Codec::Plain,
        Some((name, attr)) => match name.as_str() {
            "json" => Codec::Json,
            "plain" => Codec::Plain,
            other => return Err(Problem::unsupported(format!("codec `{other}`"), attr.pos)),
        },
    };
    let consumer_threads = a.number("consumer_threads")?.unwrap_or(1);
    let decorate_events = match a.take("decorate_events") {
        None => false,
        Some(attr) => match scalar_text(attr) {
            Some("true" | "basic") => true,
            Some("false" | "none") => false,
            _ => return Err(Problem::unsupported("decorate_events (only true/false/basic/none)", attr.pos)),
        },
    };
    let event_type = a.string("type")?;
    let tags = a.strings("tags")?.unwrap_or_default();
    a.finish()?;
    Ok(KafkaInputConfig {
        brokers: split_list(&brokers),
        topics,
        group_id,
        auto_offset_reset,
        codec,
        consumer_threads: usize::try_from(consumer_threads).unwrap_or(usize::MAX),
        decorate_events,
        event_type,
        tags,
    })
}

fn scalar_text(attr: &super::ast::Attribute) -> Option<&str> {
    match &attr.value {
        super::ast::LsValue::String(s) | super::ast::LsValue::Bareword(s) => Some(s),
        _ => None,
    }
}

fn split_list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

fn filters(items: &[Item]) -> Result<Vec<FilterStep>, Problem> {
    let mut steps = Vec::new();
    for item in items {
        match item {
            Item::Plugin(plugin) => steps.push(filter(plugin)?),
            Item::Branch(branch) => {
                let mut arms = Vec::new();
                for arm in &branch.arms {
                    arms.push(FilterArm { when: Some(arm.condition.clone()), filters: filters(&arm.items)? });
                }
                if let Some(items) = &branch.otherwise {
                    arms.push(FilterArm { when: None, filters: filters(items)? });
                }
                steps.push(FilterStep { when: None, filter: Filter::Branches(arms), on_success: Decorations::default() });
            }
        }
    }
    Ok(steps)
}

const GROK_COMBINED: [&str; 2] = ["%{COMBINEDAPACHELOG}", "%{HTTPD_COMBINEDLOG}"];

fn filter(plugin: &Plugin) -> Result<FilterStep, Problem> {
    let mut a = Attrs::new(plugin)?;
    let _id = a.string("id")?;
    let on_success = Decorations {
        add_tag: a.strings("add_tag")?.unwrap_or_default(),
        remove_tag: a.strings("remove_tag")?.unwrap_or_default(),
        add_field: a.pairs("add_field")?.unwrap_or_default().into_iter().collect(),
        remove_field: a.strings("remove_field")?.unwrap_or_default(),
    };
    let filter = match plugin.name.as_str() {
        "json" => Filter::Json(JsonFilter {
            source: a.string("source")?.unwrap_or_else(default_message),
            target: a.string("target")?,
            tag_on_failure: a.strings("tag_on_failure")?.unwrap_or_else(default_json_failure),
        }),
        "grok" => {
            let Some(attr) = plugin.attributes.iter().find(|x| x.name == "match") else {
                return Err(Problem::invalid("grok needs `match`", plugin.pos));
            };
            let pairs = a.pairs("match")?.unwrap_or_default();
            let [(source, pattern)] = pairs.as_slice() else {
                return Err(Problem::unsupported("grok with other than one field and one pattern", attr.pos));
            };
            if !GROK_COMBINED.contains(&pattern.as_str()) {
                return Err(Problem::unsupported(format!("grok pattern `{pattern}`"), attr.pos));
            }
            Filter::NginxCombined(ParseFilter {
                source: source.clone(),
                tag_on_failure: a.strings("tag_on_failure")?.unwrap_or_else(default_grok_failure),
            })
        }
        "date" => {
            let Some(attr) = plugin.attributes.iter().find(|x| x.name == "match") else {
                return Err(Problem::invalid("date needs `match`", plugin.pos));
            };
            let mut list = a.strings("match")?.unwrap_or_default();
            if list.len() < 2 {
                return Err(Problem::invalid("date `match` needs a field and at least one format", attr.pos));
            }
            let field = list.remove(0);
            Filter::Date(DateFilter {
                field,
                formats: list,
                timezone: a.string("timezone")?,
                target: a.string("target")?.unwrap_or_else(|| "@timestamp".into()),
                tag_on_failure: a.strings("tag_on_failure")?.unwrap_or_else(default_date_failure),
            })
        }
        "mutate" => Filter::Mutate(MutateFilter {
            rename: a.pairs("rename")?.unwrap_or_default().into_iter().collect(),
        }),
        other => return Err(Problem::unsupported(format!("plugin `{other}`"), plugin.pos)),
    };
    a.finish()?;
    Ok(FilterStep { when: None, filter, on_success })
}

/// Outputs do not change events, so `if/else if/else` flattens exactly into per-output conditions:
/// arm k runs when its condition holds and no earlier arm's did.
fn collect_outputs(items: &[Item], when: Option<&Condition>, out: &mut Vec<OutputStep>) -> Result<(), Problem> {
    for item in items {
        match item {
            Item::Plugin(plugin) => out.push(OutputStep { when: when.cloned(), output: output(plugin)? }),
            Item::Branch(branch) => {
                let mut earlier: Option<Condition> = None;
                for arm in &branch.arms {
                    let mut this = arm.condition.clone();
                    if let Some(prior) = &earlier {
                        this = prior.clone().negate().and(this);
                    }
                    let full = both(when, this);
                    collect_outputs(&arm.items, Some(&full), out)?;
                    earlier = Some(match earlier {
                        None => arm.condition.clone(),
                        Some(prior) => Condition::Or(Box::new(prior), Box::new(arm.condition.clone())),
                    });
                }
                if let (Some(items), Some(prior)) = (&branch.otherwise, earlier) {
                    let full = both(when, prior.negate());
                    collect_outputs(items, Some(&full), out)?;
                }
            }
        }
    }
    Ok(())
}

fn both(outer: Option<&Condition>, inner: Condition) -> Condition {
    match outer {
        Some(outer) => outer.clone().and(inner),
        None => inner,
    }
}

fn output(plugin: &Plugin) -> Result<Output, Problem> {
    let mut a = Attrs::new(plugin)?;
    let _id = a.string("id")?;
    let output = match plugin.name.as_str() {
        "elasticsearch" => {
            let hosts = a.strings("hosts")?.unwrap_or_else(|| vec!["localhost:9200".into()]);
            let ca = match a.strings("ssl_certificate_authorities")? {
                Some(list) => list.into_iter().next(),
                None => a.string("cacert")?,
            };
            let action = match a.take("action") {
                None => BulkAction::Index,
                Some(attr) => match scalar_text(attr) {
                    Some("index") => BulkAction::Index,
                    Some("create") => BulkAction::Create,
                    _ => return Err(Problem::unsupported("action (only index or create)", attr.pos)),
                },
            };
            Output::Elasticsearch(EsOutput {
                hosts,
                index: a.string("index")?.unwrap_or_else(default_index),
                user: a.string("user")?,
                password: a.string("password")?,
                password_file: None,
                user_file: None,
                tls: ca.map(|ca| TlsConfig { ca: ca.into() }),
                action,
                document_id: a.string("document_id")?,
                retry_initial_interval: seconds(&mut a, "retry_initial_interval", 2)?,
                retry_max_interval: seconds(&mut a, "retry_max_interval", 64)?,
            })
        }
        "kafka" => Output::Kafka(KafkaSinkOutput {
            brokers: split_list(&a.string("bootstrap_servers")?.unwrap_or_else(|| "localhost:9092".into())),
            topic: a.string("topic_id")?.unwrap_or_default(),
        }),
        "stdout" => Output::Stdout(StdoutOutput { codec: line_codec(&mut a, LineCodec::Rubydebug)? }),
        "file" => Output::File(FileOutput {
            path: a.string("path")?.unwrap_or_default(),
            codec: line_codec(&mut a, LineCodec::JsonLines)?,
        }),
        other => return Err(Problem::unsupported(format!("plugin `{other}`"), plugin.pos)),
    };
    if let Output::Kafka(KafkaSinkOutput { topic, .. }) = &output {
        if topic.is_empty() {
            return Err(Problem::invalid("kafka output needs `topic_id`", plugin.pos));
        }
    }
    a.finish()?;
    Ok(output)
}

fn line_codec(a: &mut Attrs, default: LineCodec) -> Result<LineCodec, Problem> {
    match a.codec()? {
        None => Ok(default),
        Some((name, attr)) => match name.as_str() {
            "rubydebug" => Ok(LineCodec::Rubydebug),
            "json_lines" | "json" => Ok(LineCodec::JsonLines),
            other => Err(Problem::unsupported(format!("codec `{other}`"), attr.pos)),
        },
    }
}

/// A whole number of seconds (Logstash's interval options) as a duration.
fn seconds(a: &mut Attrs, name: &str, default: u64) -> Result<crate::config::Duration, Problem> {
    Ok(crate::config::Duration::from_secs(a.number(name)?.unwrap_or(default)))
}
