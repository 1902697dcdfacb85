//! Conditions in Logstash's syntax: the `if` of a pipeline file and the `when` of our YAML.
//!
//! Supported: `"x" in [tags]`, `"x" not in [tags]`, `[f] == "v"`, `!=`, `<`, `>`, `<=`, `>=`,
//! `[f] =~ /re/`, `!~`, a bare `[f]` (true when present and neither null nor false), `!(...)`, `![f]`,
//! `and`, `or`, parentheses. Refused with an error: `xor` and `nand` (broken in Logstash itself,
//! elastic/logstash#4012) and a mix of `and` and `or` without parentheses, whose grouping has differed
//! between Logstash's Ruby and Java execution; parentheses make the intent explicit.
//! Evaluation lives in `route`.

use std::fmt;

use serde_json::Value;

use crate::event::FieldPath;
use crate::scan::{Cursor, SyntaxError};

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    And(Box<Condition>, Box<Condition>),
    Or(Box<Condition>, Box<Condition>),
    Not(Box<Condition>),
    Compare { left: Operand, op: CompareOp, right: Operand },
    In { needle: Operand, haystack: Operand, negated: bool },
    Match { left: Operand, pattern: Pattern, negated: bool },
    Truthy(Operand),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Field(FieldPath),
    Literal(Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

impl CompareOp {
    fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Gt => ">",
            CompareOp::Le => "<=",
            CompareOp::Ge => ">=",
        }
    }
}

/// A compiled regex that remembers its source (equality compares sources).
#[derive(Debug, Clone)]
pub struct Pattern {
    pub source: String,
    pub regex: regex::Regex,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Condition {
    /// Parses a whole condition string (our YAML's `when`).
    pub fn parse(text: &str) -> Result<Condition, SyntaxError> {
        let mut cur = Cursor::new(text);
        let condition = parse_condition(&mut cur)?;
        cur.skip_blank();
        if !cur.at_end() {
            return Err(cur.error(format!("unexpected {} after the condition", cur.describe_next())));
        }
        Ok(condition)
    }

    pub fn and(self, other: Condition) -> Condition {
        Condition::And(Box::new(self), Box::new(other))
    }

    pub fn negate(self) -> Condition {
        Condition::Not(Box::new(self))
    }
}

/// Parses a condition at the cursor, up to the first token that cannot continue it (e.g. `{`).
pub fn parse_condition(cur: &mut Cursor) -> Result<Condition, SyntaxError> {
    let mut left = parse_expression(cur)?;
    let mut joiner: Option<&str> = None;
    loop {
        cur.skip_blank();
        let pos = cur.pos();
        let op = if cur.eat_word("and") {
            "and"
        } else if cur.eat_word("or") {
            "or"
        } else if cur.eat_word("xor") || cur.eat_word("nand") {
            return Err(SyntaxError { message: "unsupported boolean operator (xor/nand)".into(), pos });
        } else {
            return Ok(left);
        };
        if joiner.is_some_and(|j| j != op) {
            return Err(SyntaxError {
                message: "ambiguous mix of `and` and `or` without parentheses".into(),
                pos,
            });
        }
        joiner = Some(op);
        let right = parse_expression(cur)?;
        left = match op {
            "and" => Condition::And(Box::new(left), Box::new(right)),
            _ => Condition::Or(Box::new(left), Box::new(right)),
        };
    }
}

fn parse_expression(cur: &mut Cursor) -> Result<Condition, SyntaxError> {
    if cur.eat("(") {
        let inner = parse_condition(cur)?;
        cur.expect(")")?;
        return Ok(inner);
    }
    cur.skip_blank();
    if cur.peek() == Some('!') && cur.peek_at(1) != Some('=') && cur.peek_at(1) != Some('~') {
        cur.bump();
        if cur.eat("(") {
            let inner = parse_condition(cur)?;
            cur.expect(")")?;
            return Ok(inner.negate());
        }
        let Some(selector) = cur.selector() else {
            return Err(cur.error(format!("expected `(` or a [field] after `!`, found {}", cur.describe_next())));
        };
        return Ok(Condition::Truthy(field(cur, &selector)?).negate());
    }
    let left = parse_rvalue(cur)?;
    if cur.eat_word("in") {
        return Ok(Condition::In { needle: left, haystack: parse_rvalue(cur)?, negated: false });
    }
    if cur.eat_word("not") {
        if !cur.eat_word("in") {
            return Err(cur.error(format!("expected `in` after `not`, found {}", cur.describe_next())));
        }
        return Ok(Condition::In { needle: left, haystack: parse_rvalue(cur)?, negated: true });
    }
    for (text, negated) in [("=~", false), ("!~", true)] {
        if cur.eat(text) {
            cur.skip_blank();
            let pos = cur.pos();
            let Some(source) = cur.regex()? else {
                return Err(cur.error(format!("expected a /regex/ after `{text}`, found {}", cur.describe_next())));
            };
            let regex = regex::Regex::new(&source)
                .map_err(|e| SyntaxError { message: format!("unsupported regex /{source}/: {e}"), pos })?;
            return Ok(Condition::Match { left, pattern: Pattern { source, regex }, negated });
        }
    }
    for op in [CompareOp::Eq, CompareOp::Ne, CompareOp::Le, CompareOp::Ge, CompareOp::Lt, CompareOp::Gt] {
        if cur.eat(op.as_str()) {
            return Ok(Condition::Compare { left, op, right: parse_rvalue(cur)? });
        }
    }
    Ok(Condition::Truthy(left))
}

fn field(cur: &Cursor, selector: &str) -> Result<Operand, SyntaxError> {
    FieldPath::parse_reference(selector).map(Operand::Field).map_err(|e| cur.error(e.to_string()))
}

fn parse_rvalue(cur: &mut Cursor) -> Result<Operand, SyntaxError> {
    if let Some(selector) = cur.selector() {
        return field(cur, &selector);
    }
    if let Some(text) = cur.string()? {
        return Ok(Operand::Literal(Value::String(text)));
    }
    if let Some(number) = cur.number() {
        return parse_number(&number).map(Operand::Literal).ok_or_else(|| cur.error(format!("bad number `{number}`")));
    }
    if cur.eat("[") {
        let mut items = Vec::new();
        if !cur.eat("]") {
            loop {
                match parse_rvalue(cur)? {
                    Operand::Literal(value) => items.push(value),
                    Operand::Field(_) => return Err(cur.error("a list may hold only literal values")),
                }
                if cur.eat("]") {
                    break;
                }
                cur.expect(",")?;
            }
        }
        return Ok(Operand::Literal(Value::Array(items)));
    }
    Err(cur.error(format!("expected a string, number, list or [field], found {}", cur.describe_next())))
}

pub(crate) fn parse_number(text: &str) -> Option<Value> {
    if let Ok(n) = text.parse::<i64>() {
        return Some(Value::from(n));
    }
    text.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Value::Number)
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Field(path) => write!(f, "{path}"),
            Operand::Literal(value) => write_literal(f, value),
        }
    }
}

fn write_literal(f: &mut fmt::Formatter<'_>, value: &Value) -> fmt::Result {
    match value {
        Value::String(s) => write!(f, "\"{}\"", s.replace('"', "\\\"")),
        Value::Array(items) => {
            write!(f, "[")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    write!(f, ", ")?;
                }
                write_literal(f, item)?;
            }
            write!(f, "]")
        }
        other => write!(f, "{other}"),
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let grouped = |c: &Condition| match c {
            Condition::And(..) | Condition::Or(..) => format!("({c})"),
            other => other.to_string(),
        };
        match self {
            Condition::And(a, b) => write!(f, "{} and {}", grouped(a), grouped(b)),
            Condition::Or(a, b) => write!(f, "{} or {}", grouped(a), grouped(b)),
            Condition::Not(inner) => match inner.as_ref() {
                Condition::Truthy(Operand::Field(path)) => write!(f, "!{path}"),
                other => write!(f, "!({other})"),
            },
            Condition::Compare { left, op, right } => write!(f, "{left} {} {right}", op.as_str()),
            Condition::In { needle, haystack, negated } => {
                write!(f, "{needle} {}in {haystack}", if *negated { "not " } else { "" })
            }
            Condition::Match { left, pattern, negated } => {
                let op = if *negated { "!~" } else { "=~" };
                write!(f, "{left} {op} /{}/", pattern.source.replace('/', "\\/"))
            }
            Condition::Truthy(operand) => write!(f, "{operand}"),
        }
    }
}

impl serde::Serialize for Condition {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for Condition {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Condition::parse(&text).map_err(|e| serde::de::Error::custom(format!("bad condition `{text}`: {e}")))
    }
}

#[cfg(test)]
#[path = "condition_tests.rs"]
mod tests;
