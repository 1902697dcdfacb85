//! A character cursor with line and column, shared by the Logstash pipeline parser and the condition
//! parser. It knows the Logstash lexical rules: `#` comments to end of line, single- and double-quoted
//! strings with backslash escapes, numbers, barewords, `/regex/` literals and `[a][b]` selectors.

use std::fmt;

/// A place in the source, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at {pos}")]
pub struct SyntaxError {
    pub message: String,
    pub pos: Pos,
}

pub struct Cursor {
    chars: Vec<char>,
    index: usize,
    line: usize,
    column: usize,
}

impl Cursor {
    pub fn new(source: &str) -> Self {
        Cursor { chars: source.chars().collect(), index: 0, line: 1, column: 1 }
    }

    pub fn pos(&self) -> Pos {
        Pos { line: self.line, column: self.column }
    }

    pub fn error(&self, message: impl Into<String>) -> SyntaxError {
        SyntaxError { message: message.into(), pos: self.pos() }
    }

    pub fn peek(&self) -> Option<char> {
        self.chars.get(self.index).copied()
    }

    pub fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.index + ahead).copied()
    }

    pub fn at_end(&self) -> bool {
        self.index >= self.chars.len()
    }

    pub fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.index += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    /// Skips whitespace and `#` comments.
    pub fn skip_blank(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.bump();
            } else if c == '#' {
                while let Some(c) = self.bump() {
                    if c == '\n' {
                        break;
                    }
                }
            } else {
                break;
            }
        }
    }

    /// After blanks, consumes `text` if it comes next.
    pub fn eat(&mut self, text: &str) -> bool {
        self.skip_blank();
        let n = text.chars().count();
        let matches = text.chars().enumerate().all(|(i, c)| self.peek_at(i) == Some(c));
        if matches {
            for _ in 0..n {
                self.bump();
            }
        }
        matches
    }

    /// Like `eat`, for a word that must not run on into a longer bareword (`in` but not `index`).
    pub fn eat_word(&mut self, word: &str) -> bool {
        self.skip_blank();
        let n = word.chars().count();
        let matches = word.chars().enumerate().all(|(i, c)| self.peek_at(i) == Some(c))
            && !self.peek_at(n).is_some_and(is_bareword_char);
        if matches {
            for _ in 0..n {
                self.bump();
            }
        }
        matches
    }

    pub fn expect(&mut self, text: &str) -> Result<(), SyntaxError> {
        if self.eat(text) {
            Ok(())
        } else {
            Err(self.error(format!("expected `{text}`, found {}", self.describe_next())))
        }
    }

    /// What comes next, for error messages.
    pub fn describe_next(&self) -> String {
        match self.peek() {
            None => "end of file".to_string(),
            Some(_) => {
                let word: String = self.chars[self.index..].iter().take_while(|c| !c.is_whitespace()).take(20).collect();
                format!("`{word}`")
            }
        }
    }

    /// A bareword: `[A-Za-z_][A-Za-z0-9_-]*` (Logstash also allows `@` inside).
    pub fn bareword(&mut self) -> Option<String> {
        self.skip_blank();
        let first = self.peek()?;
        if !(first.is_ascii_alphabetic() || first == '_') {
            return None;
        }
        let mut word = String::new();
        while let Some(c) = self.peek().filter(|c| is_bareword_char(*c)) {
            word.push(c);
            self.bump();
        }
        Some(word)
    }

    /// A quoted string, `"..."` or `'...'`; `\"`, `\'` and `\\` unescape, other escapes stay as written
    /// (Logstash's default, `config.support_escapes: false`, keeps them all; we unescape only quotes).
    pub fn string(&mut self) -> Result<Option<String>, SyntaxError> {
        self.skip_blank();
        let Some(quote) = self.peek().filter(|c| *c == '"' || *c == '\'') else {
            return Ok(None);
        };
        let start = self.pos();
        self.bump();
        let mut text = String::new();
        loop {
            match self.bump() {
                None => return Err(SyntaxError { message: "unterminated string".into(), pos: start }),
                Some(c) if c == quote => return Ok(Some(text)),
                Some('\\') if self.peek() == Some(quote) => {
                    text.push(quote);
                    self.bump();
                }
                Some(c) => text.push(c),
            }
        }
    }

    /// A number: `-?[0-9]+(\.[0-9]*)?`.
    pub fn number(&mut self) -> Option<String> {
        self.skip_blank();
        let digit_at = if self.peek() == Some('-') { 1 } else { 0 };
        if !self.peek_at(digit_at).is_some_and(|c| c.is_ascii_digit()) {
            return None;
        }
        let mut text = String::new();
        while let Some(c) = self.peek().filter(|c| c.is_ascii_digit() || *c == '-' || *c == '.') {
            if c == '-' && !text.is_empty() {
                break;
            }
            text.push(c);
            self.bump();
        }
        Some(text)
    }

    /// A regex literal `/.../`; `\/` stands for `/`.
    pub fn regex(&mut self) -> Result<Option<String>, SyntaxError> {
        self.skip_blank();
        if self.peek() != Some('/') {
            return Ok(None);
        }
        let start = self.pos();
        self.bump();
        let mut text = String::new();
        loop {
            match self.bump() {
                None => return Err(SyntaxError { message: "unterminated regex".into(), pos: start }),
                Some('/') => return Ok(Some(text)),
                Some('\\') if self.peek() == Some('/') => {
                    text.push('/');
                    self.bump();
                }
                Some('\\') => {
                    text.push('\\');
                    if let Some(c) = self.bump() {
                        text.push(c);
                    }
                }
                Some(c) => text.push(c),
            }
        }
    }

    /// A selector `[a][b]...` as raw text, when one comes next (`[` followed by a non-quote).
    pub fn selector(&mut self) -> Option<String> {
        self.skip_blank();
        if self.peek() != Some('[') || matches!(self.peek_at(1), Some('"' | '\'' | ']' | '[') | None) {
            return None;
        }
        let mut text = String::new();
        while self.peek() == Some('[') {
            let mut segment = String::from("[");
            let mut ahead = 1;
            loop {
                match self.peek_at(ahead) {
                    Some(']') => break,
                    Some(c) if c != '[' && c != ',' && c != '\n' => segment.push(c),
                    _ => return if text.is_empty() { None } else { Some(text) },
                }
                ahead += 1;
            }
            for _ in 0..=ahead {
                self.bump();
            }
            segment.push(']');
            text.push_str(&segment);
        }
        Some(text)
    }
}

pub fn is_bareword_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '@'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_positions() {
        let mut cur = Cursor::new("# comment\n  kafka { topics => ['a', \"b\\\"c\"] n => -1.5 }");
        assert_eq!(cur.bareword().as_deref(), Some("kafka"));
        assert_eq!(cur.pos(), Pos { line: 2, column: 8 });
        assert!(cur.eat("{"));
        assert_eq!(cur.bareword().as_deref(), Some("topics"));
        assert!(cur.eat("=>") && cur.eat("["));
        assert_eq!(cur.string().unwrap().as_deref(), Some("a"));
        assert!(cur.eat(","));
        assert_eq!(cur.string().unwrap().as_deref(), Some("b\"c"));
        assert!(cur.eat("]"));
        assert_eq!(cur.bareword().as_deref(), Some("n"));
        assert!(cur.eat("=>"));
        assert_eq!(cur.number().as_deref(), Some("-1.5"));
        assert!(!cur.eat_word("i") && cur.eat("}"));
        cur.skip_blank();
        assert!(cur.at_end());
    }

    #[test]
    fn selectors_regexes_and_errors() {
        let mut cur = Cursor::new(" [log][file][path] =~ /a\\/b\\d/ \"open");
        assert_eq!(cur.selector().as_deref(), Some("[log][file][path]"));
        assert!(cur.eat("=~"));
        assert_eq!(cur.regex().unwrap().as_deref(), Some("a/b\\d"));
        let err = cur.string().unwrap_err();
        assert_eq!(err.to_string(), "unterminated string at line 1, column 32");
        assert_eq!(Cursor::new("[\"a\"]").selector(), None);
    }
}
