//! Checks serde cannot express. Pure; each failure names its key path.

use super::process::*;
use super::ship::*;
use super::Invalid;
use crate::event::FieldPath;
use crate::index::Template;

type Check = Result<(), Invalid>;

fn non_empty(path: &str, value: &str) -> Check {
    if value.trim().is_empty() {
        return Err(Invalid::new(path, "must not be empty"));
    }
    Ok(())
}

fn regex(path: &str, pattern: &str) -> Check {
    regex::Regex::new(pattern).map(|_| ()).map_err(|e| Invalid::new(path, format!("bad regex `{pattern}`: {e}")))
}

fn field(path: &str, reference: &str) -> Check {
    FieldPath::parse_reference(reference).map(|_| ()).map_err(|e| Invalid::new(path, e.to_string()))
}

fn template(path: &str, text: &str) -> Check {
    non_empty(path, text)?;
    Template::parse(text).map(|_| ()).map_err(|e| Invalid::new(path, e.to_string()))
}

/// `host:port` with a numeric port.
fn brokers(path: &str, brokers: &[String]) -> Check {
    if brokers.is_empty() {
        return Err(Invalid::new(path, "needs at least one broker"));
    }
    for (i, broker) in brokers.iter().enumerate() {
        let ok = broker.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !ok {
            return Err(Invalid::new(format!("{path}[{i}]"), format!("`{broker}` is not host:port")));
        }
    }
    Ok(())
}

pub fn ship(ship: &ShipConfig) -> Check {
    if ship.inputs.is_empty() {
        return Err(Invalid::new("ship.inputs", "needs at least one input"));
    }
    let mut ids = std::collections::HashSet::new();
    for (i, input) in ship.inputs.iter().enumerate() {
        let at = format!("ship.inputs[{i}]");
        non_empty(&format!("{at}.id"), &input.id)?;
        if !ids.insert(input.id.as_str()) {
            return Err(Invalid::new(format!("{at}.id"), format!("duplicate input id `{}`", input.id)));
        }
        if input.paths.is_empty() {
            return Err(Invalid::new(format!("{at}.paths"), "needs at least one path"));
        }
        for (j, path) in input.paths.iter().enumerate() {
            non_empty(&format!("{at}.paths[{j}]"), path)?;
        }
        if let Some(multiline) = &input.multiline {
            regex(&format!("{at}.multiline.pattern"), &multiline.pattern)?;
            if multiline.max_lines == 0 {
                return Err(Invalid::new(format!("{at}.multiline.max_lines"), "must be at least 1"));
            }
        }
        for (j, pattern) in input.exclude_lines.iter().enumerate() {
            regex(&format!("{at}.exclude_lines[{j}]"), pattern)?;
        }
        for (j, pattern) in input.include_lines.iter().enumerate() {
            regex(&format!("{at}.include_lines[{j}]"), pattern)?;
        }
    }
    let kafka = &ship.output.kafka;
    brokers("ship.output.kafka.brokers", &kafka.brokers)?;
    template("ship.output.kafka.topic", &kafka.topic)?;
    for (i, route) in kafka.routes.iter().enumerate() {
        template(&format!("ship.output.kafka.routes[{i}].topic"), &route.topic)?;
    }
    for (i, reference) in kafka.partitioning.hash_fields.iter().enumerate() {
        field(&format!("ship.output.kafka.partitioning.hash_fields[{i}]"), reference)?;
    }
    if kafka.max_message_bytes == 0 {
        return Err(Invalid::new("ship.output.kafka.max_message_bytes", "must be at least 1"));
    }
    non_empty("ship.registry", &ship.registry.to_string_lossy())
}

pub fn process(process: &ProcessConfig) -> Check {
    let kafka = &process.input.kafka;
    brokers("process.input.kafka.brokers", &kafka.brokers)?;
    if kafka.topics.is_empty() {
        return Err(Invalid::new("process.input.kafka.topics", "needs at least one topic"));
    }
    for (i, topic) in kafka.topics.iter().enumerate() {
        non_empty(&format!("process.input.kafka.topics[{i}]"), topic)?;
    }
    non_empty("process.input.kafka.group_id", &kafka.group_id)?;
    if kafka.consumer_threads == 0 {
        return Err(Invalid::new("process.input.kafka.consumer_threads", "must be at least 1"));
    }
    filters("process.filters", &process.filters)?;
    if process.outputs.is_empty() {
        return Err(Invalid::new("process.outputs", "needs at least one output"));
    }
    for (i, step) in process.outputs.iter().enumerate() {
        output(&format!("process.outputs[{i}]"), &step.output)?;
    }
    if let Some(dead_letter) = &process.dead_letter {
        non_empty("process.dead_letter.topic", &dead_letter.topic)?;
        if let Some(list) = &dead_letter.brokers {
            brokers("process.dead_letter.brokers", list)?;
        }
    }
    Ok(())
}

fn filters(at: &str, steps: &[FilterStep]) -> Check {
    for (i, step) in steps.iter().enumerate() {
        let at = format!("{at}[{i}]");
        let deco = &step.on_success;
        for (key, format) in &deco.add_field {
            field(&format!("{at}.add_field"), key)?;
            template(&format!("{at}.add_field.{key}"), format)?;
        }
        for reference in &deco.remove_field {
            field(&format!("{at}.remove_field"), reference)?;
        }
        match &step.filter {
            Filter::Json(f) => {
                field(&format!("{at}.json.source"), &f.source)?;
                if let Some(target) = &f.target {
                    field(&format!("{at}.json.target"), target)?;
                }
            }
            Filter::NginxCombined(f) => field(&format!("{at}.nginx_combined.source"), &f.source)?,
            Filter::NginxError(f) => field(&format!("{at}.nginx_error.source"), &f.source)?,
            Filter::Date(f) => date(&format!("{at}.date"), f)?,
            Filter::Mutate(f) => {
                for (from, to) in &f.rename {
                    field(&format!("{at}.mutate.rename"), from)?;
                    field(&format!("{at}.mutate.rename.{from}"), to)?;
                }
            }
            Filter::Branches(arms) => {
                if arms.is_empty() {
                    return Err(Invalid::new(format!("{at}.branches"), "needs at least one arm"));
                }
                for (j, arm) in arms.iter().enumerate() {
                    if arm.when.is_none() && j + 1 != arms.len() {
                        return Err(Invalid::new(
                            format!("{at}.branches[{j}].when"),
                            "only the last arm may omit `when` (it is the else)",
                        ));
                    }
                    filters(&format!("{at}.branches[{j}].filters"), &arm.filters)?;
                }
            }
        }
    }
    Ok(())
}

fn date(at: &str, f: &DateFilter) -> Check {
    field(&format!("{at}.field"), &f.field)?;
    field(&format!("{at}.target"), &f.target)?;
    if f.formats.is_empty() {
        return Err(Invalid::new(format!("{at}.formats"), "needs at least one format"));
    }
    for (i, format) in f.formats.iter().enumerate() {
        crate::parse::date::DateFormat::parse(format)
            .map_err(|e| Invalid::new(format!("{at}.formats[{i}]"), e.to_string()))?;
    }
    if let Some(zone) = &f.timezone {
        crate::parse::date::zone(zone).map_err(|e| Invalid::new(format!("{at}.timezone"), e.to_string()))?;
    }
    Ok(())
}

fn output(at: &str, output: &Output) -> Check {
    match output {
        Output::Elasticsearch(es) => {
            if es.hosts.is_empty() {
                return Err(Invalid::new(format!("{at}.elasticsearch.hosts"), "needs at least one host"));
            }
            for (i, host) in es.hosts.iter().enumerate() {
                non_empty(&format!("{at}.elasticsearch.hosts[{i}]"), host)?;
            }
            template(&format!("{at}.elasticsearch.index"), &es.index)?;
            if es.password.is_some() && es.password_file.is_some() {
                return Err(Invalid::new(
                    format!("{at}.elasticsearch.password_file"),
                    "give either password or password_file, not both",
                ));
            }
            let has_secret = es.password.is_some() || es.password_file.is_some();
            let has_user = es.user.is_some() || es.user_file.is_some();
            if has_user != has_secret {
                return Err(Invalid::new(
                    format!("{at}.elasticsearch.user"),
                    "user (or user_file) and a password (or password_file) go together",
                ));
            }
            if es.user.is_some() && es.user_file.is_some() {
                return Err(Invalid::new(format!("{at}.elasticsearch.user_file"), "give user or user_file, not both"));
            }
            if let Some(id) = &es.document_id {
                template(&format!("{at}.elasticsearch.document_id"), id)?;
            }
        }
        Output::Kafka(k) => {
            brokers(&format!("{at}.kafka.brokers"), &k.brokers)?;
            template(&format!("{at}.kafka.topic"), &k.topic)?;
        }
        Output::Stdout(_) => {}
        Output::File(f) => template(&format!("{at}.file.path"), &f.path)?,
    }
    Ok(())
}
