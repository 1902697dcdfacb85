//! Typed reading of a plugin's settings; every setting must be read, so an unknown one is an error.

use super::ast::{Attribute, LsValue, Plugin};
use super::Problem;
use crate::index::value_text;

pub struct Attrs<'a> {
    plugin: &'a Plugin,
    used: Vec<bool>,
}

impl<'a> Attrs<'a> {
    pub fn new(plugin: &'a Plugin) -> Result<Self, Problem> {
        for (i, attr) in plugin.attributes.iter().enumerate() {
            if plugin.attributes[..i].iter().any(|a| a.name == attr.name) {
                return Err(Problem::invalid(
                    format!("setting `{}` of plugin `{}` given twice", attr.name, plugin.name),
                    attr.pos,
                ));
            }
        }
        Ok(Attrs { plugin, used: vec![false; plugin.attributes.len()] })
    }

    pub fn take(&mut self, name: &str) -> Option<&'a Attribute> {
        let index = self.plugin.attributes.iter().position(|a| a.name == name)?;
        self.used[index] = true;
        self.plugin.attributes.get(index)
    }

    fn wrong(&self, attr: &Attribute, expected: &str) -> Problem {
        Problem::invalid(format!("setting `{}` of plugin `{}` must be {expected}", attr.name, self.plugin.name), attr.pos)
    }

    /// A string, bareword or number, as text.
    pub fn string(&mut self, name: &str) -> Result<Option<String>, Problem> {
        let Some(attr) = self.take(name) else { return Ok(None) };
        scalar(&attr.value).map(Some).ok_or_else(|| self.wrong(attr, "a string"))
    }

    /// An array of scalars, or one scalar (Logstash turns a lone value into a one-element list).
    pub fn strings(&mut self, name: &str) -> Result<Option<Vec<String>>, Problem> {
        let Some(attr) = self.take(name) else { return Ok(None) };
        match &attr.value {
            LsValue::Array(items) => items.iter().map(scalar).collect::<Option<Vec<_>>>(),
            other => scalar(other).map(|s| vec![s]),
        }
        .map(Some)
        .ok_or_else(|| self.wrong(attr, "a string or a list of strings"))
    }

    pub fn number(&mut self, name: &str) -> Result<Option<u64>, Problem> {
        let Some(attr) = self.take(name) else { return Ok(None) };
        scalar(&attr.value).and_then(|s| s.parse().ok()).map(Some).ok_or_else(|| self.wrong(attr, "a whole number"))
    }

    /// A hash of string → string, or a flat array `[k1, v1, k2, v2]` (both forms Logstash accepts).
    pub fn pairs(&mut self, name: &str) -> Result<Option<Vec<(String, String)>>, Problem> {
        let Some(attr) = self.take(name) else { return Ok(None) };
        let pairs = match &attr.value {
            LsValue::Hash(entries) => {
                entries.iter().map(|(k, v)| scalar(v).map(|v| (k.clone(), v))).collect::<Option<Vec<_>>>()
            }
            LsValue::Array(items) if items.len() % 2 == 0 => items
                .chunks(2)
                .map(|pair| Some((scalar(&pair[0])?, scalar(&pair[1])?)))
                .collect::<Option<Vec<_>>>(),
            _ => None,
        };
        pairs.map(Some).ok_or_else(|| self.wrong(attr, "a hash of strings"))
    }

    /// The codec: a name (`"json"`, `json`) or a plugin without settings (`json {}`).
    pub fn codec(&mut self) -> Result<Option<(String, &'a Attribute)>, Problem> {
        let Some(attr) = self.take("codec") else { return Ok(None) };
        match &attr.value {
            LsValue::Plugin(p) if p.attributes.is_empty() => Ok(Some((p.name.clone(), attr))),
            LsValue::Plugin(p) => Err(Problem::unsupported(format!("codec settings for `{}`", p.name), attr.pos)),
            other => scalar(other).map(|name| Some((name, attr))).ok_or_else(|| self.wrong(attr, "a codec name")),
        }
    }

    /// Errors on the first setting nobody read.
    pub fn finish(self) -> Result<(), Problem> {
        match self.plugin.attributes.iter().zip(&self.used).find(|(_, used)| !**used) {
            Some((attr, _)) => Err(Problem::unsupported(
                format!("setting `{}` of plugin `{}`", attr.name, self.plugin.name),
                attr.pos,
            )),
            None => Ok(()),
        }
    }
}

fn scalar(value: &LsValue) -> Option<String> {
    match value {
        LsValue::String(s) | LsValue::Bareword(s) => Some(s.clone()),
        LsValue::Number(n) => Some(value_text(n)),
        _ => None,
    }
}
