//! The Logstash pipeline-file grammar (after `logstash-core/lib/logstash/config/grammar.treetop`):
//! sections `input|filter|output { ... }` holding plugins `name { attr => value ... }` and branches
//! `if cond { ... } else if cond { ... } else { ... }`. Values: strings, numbers, barewords, arrays
//! `[a, b]`, hashes `{ "k" => v ... }` (entries separated by blanks, not commas), and plugins (codecs).

use serde_json::Value;

use crate::condition::{parse_condition, Condition};
use crate::scan::{Cursor, Pos, SyntaxError};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Pipeline {
    pub inputs: Vec<Item>,
    pub filters: Vec<Item>,
    pub outputs: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Plugin(Plugin),
    Branch(Branch),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plugin {
    pub name: String,
    pub pos: Pos,
    pub attributes: Vec<Attribute>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub pos: Pos,
    pub value: LsValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LsValue {
    String(String),
    Number(Value),
    Bareword(String),
    Array(Vec<LsValue>),
    Hash(Vec<(String, LsValue)>),
    Plugin(Plugin),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Branch {
    /// `if` and `else if` arms, in order.
    pub arms: Vec<Arm>,
    pub otherwise: Option<Vec<Item>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Arm {
    pub condition: Condition,
    pub pos: Pos,
    pub items: Vec<Item>,
}

pub fn parse(source: &str) -> Result<Pipeline, SyntaxError> {
    let mut cur = Cursor::new(source);
    let mut pipeline = Pipeline::default();
    loop {
        cur.skip_blank();
        if cur.at_end() {
            return Ok(pipeline);
        }
        let pos = cur.pos();
        let section = cur.bareword().unwrap_or_default();
        let list = match section.as_str() {
            "input" => &mut pipeline.inputs,
            "filter" => &mut pipeline.filters,
            "output" => &mut pipeline.outputs,
            _ => {
                return Err(SyntaxError {
                    message: format!("expected `input`, `filter` or `output`, found {}", describe(&section, &cur)),
                    pos,
                })
            }
        };
        cur.expect("{")?;
        list.extend(items(&mut cur)?);
    }
}

fn describe(word: &str, cur: &Cursor) -> String {
    if word.is_empty() {
        cur.describe_next()
    } else {
        format!("`{word}`")
    }
}

/// Items up to and including the closing `}`.
fn items(cur: &mut Cursor) -> Result<Vec<Item>, SyntaxError> {
    let mut items = Vec::new();
    loop {
        if cur.eat("}") {
            return Ok(items);
        }
        if cur.at_end() {
            return Err(cur.error("expected `}`, found end of file"));
        }
        if cur.eat_word("if") {
            items.push(Item::Branch(branch(cur)?));
        } else {
            items.push(Item::Plugin(plugin(cur)?));
        }
    }
}

fn branch(cur: &mut Cursor) -> Result<Branch, SyntaxError> {
    let mut arms = Vec::new();
    let mut otherwise = None;
    loop {
        cur.skip_blank();
        let pos = cur.pos();
        let condition = parse_condition(cur)?;
        cur.expect("{")?;
        arms.push(Arm { condition, pos, items: items(cur)? });
        if !cur.eat_word("else") {
            break;
        }
        if cur.eat_word("if") {
            continue;
        }
        cur.expect("{")?;
        otherwise = Some(items(cur)?);
        break;
    }
    Ok(Branch { arms, otherwise })
}

fn name(cur: &mut Cursor) -> Result<Option<String>, SyntaxError> {
    if let Some(word) = cur.bareword() {
        return Ok(Some(word));
    }
    cur.string()
}

fn plugin(cur: &mut Cursor) -> Result<Plugin, SyntaxError> {
    cur.skip_blank();
    let pos = cur.pos();
    let Some(name) = name(cur)? else {
        return Err(cur.error(format!("expected a plugin name, `if` or `}}`, found {}", cur.describe_next())));
    };
    cur.expect("{")?;
    plugin_body(cur, name, pos)
}

fn plugin_body(cur: &mut Cursor, plugin_name: String, pos: Pos) -> Result<Plugin, SyntaxError> {
    let mut attributes = Vec::new();
    loop {
        if cur.eat("}") {
            return Ok(Plugin { name: plugin_name, pos, attributes });
        }
        cur.skip_blank();
        let attr_pos = cur.pos();
        let Some(attr) = name(cur)? else {
            return Err(cur.error(format!("expected a setting name or `}}`, found {}", cur.describe_next())));
        };
        cur.expect("=>")?;
        let value = value(cur)?;
        attributes.push(Attribute { name: attr, pos: attr_pos, value });
    }
}

fn value(cur: &mut Cursor) -> Result<LsValue, SyntaxError> {
    cur.skip_blank();
    let pos = cur.pos();
    if let Some(text) = cur.string()? {
        return Ok(LsValue::String(text));
    }
    if let Some(number) = cur.number() {
        return crate::condition::parse_number(&number)
            .map(LsValue::Number)
            .ok_or_else(|| SyntaxError { message: format!("bad number `{number}`"), pos });
    }
    if let Some(word) = cur.bareword() {
        if cur.eat("{") {
            return Ok(LsValue::Plugin(plugin_body(cur, word, pos)?));
        }
        return Ok(LsValue::Bareword(word));
    }
    if cur.eat("[") {
        let mut list = Vec::new();
        if cur.eat("]") {
            return Ok(LsValue::Array(list));
        }
        loop {
            list.push(value(cur)?);
            if cur.eat("]") {
                return Ok(LsValue::Array(list));
            }
            cur.expect(",")?;
        }
    }
    if cur.eat("{") {
        let mut entries = Vec::new();
        loop {
            if cur.eat("}") {
                return Ok(LsValue::Hash(entries));
            }
            let key = match name(cur)? {
                Some(key) => key,
                None => match cur.number() {
                    Some(n) => n,
                    None => return Err(cur.error(format!("expected a hash key or `}}`, found {}", cur.describe_next()))),
                },
            };
            cur.expect("=>")?;
            entries.push((key, value(cur)?));
        }
    }
    Err(cur.error(format!("expected a value, found {}", cur.describe_next())))
}
