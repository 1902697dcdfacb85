use super::*;
use proptest::prelude::*;
use serde_json::json;

fn parse(text: &str) -> Condition {
    Condition::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn field(reference: &str) -> Operand {
    Operand::Field(FieldPath::parse_reference(reference).unwrap())
}

#[test]
fn the_seeds_conditions() {
    assert_eq!(
        parse(r#""access" in [tags]"#),
        Condition::In { needle: Operand::Literal(json!("access")), haystack: field("[tags]"), negated: false }
    );
    assert_eq!(
        parse(r#""error" not in [tags]"#),
        Condition::In { needle: Operand::Literal(json!("error")), haystack: field("[tags]"), negated: true }
    );
}

#[test]
fn comparisons_regexes_and_truthiness() {
    assert_eq!(
        parse(r#"[http][response][status_code] >= 500"#),
        Condition::Compare { left: field("[http][response][status_code]"), op: CompareOp::Ge, right: Operand::Literal(json!(500)) }
    );
    assert!(matches!(parse(r#"[type] != 'nginx'"#), Condition::Compare { op: CompareOp::Ne, .. }));
    let Condition::Match { pattern, negated: true, .. } = parse(r#"[url] !~ /^\/api\//"#) else { panic!() };
    assert!(pattern.regex.is_match("/api/x") && !pattern.regex.is_match("/health"));
    assert_eq!(parse("[a]"), Condition::Truthy(field("[a]")));
    assert_eq!(parse("![a]"), Condition::Truthy(field("[a]")).negate());
    assert_eq!(parse(r#"[level] in ["error", "crit"]"#).to_string(), r#"[level] in ["error", "crit"]"#);
}

#[test]
fn boolean_operators_and_parentheses() {
    let c = parse(r#""access" in [tags] and ([status] == 404 or [status] == 500)"#);
    assert_eq!(c.to_string(), r#""access" in [tags] and ([status] == 404 or [status] == 500)"#);
    let c = parse(r#"!("a" in [tags]) and [x] and [y]"#);
    assert_eq!(c.to_string(), r#"(!("a" in [tags]) and [x]) and [y]"#);
}

#[test]
fn refused_constructs_name_their_place() {
    let cases = [
        ("[a] and [b] or [c]", "ambiguous mix of `and` and `or` without parentheses at line 1, column 13"),
        ("[a] xor [b]", "unsupported boolean operator (xor/nand) at line 1, column 5"),
        ("[a] =~ /(?=x)/", "unsupported regex"),
        ("[a] == ", "expected a string, number, list or [field], found end of file at line 1, column 8"),
        ("[a] == 1 }", "unexpected `}` after the condition at line 1, column 10"),
        ("\"x\" not [tags]", "expected `in` after `not`"),
        ("([a]", "expected `)`, found end of file"),
    ];
    for (text, expected) in cases {
        let err = Condition::parse(text).unwrap_err().to_string();
        assert!(err.contains(expected), "{text}: {err}");
    }
}

#[test]
fn serde_reads_and_writes_the_text_form() {
    let c: Condition = serde_json::from_value(json!("\"error\" in [tags]")).unwrap();
    assert_eq!(serde_json::to_value(&c).unwrap(), json!("\"error\" in [tags]"));
    let err = serde_json::from_value::<Condition>(json!("[a] ==")).unwrap_err().to_string();
    assert!(err.contains("bad condition `[a] ==`"), "{err}");
}

fn operand() -> impl Strategy<Value = Operand> {
    prop_oneof![
        prop::collection::vec("[a-z@_]{1,5}", 1..3).prop_map(|k| Operand::Field(FieldPath::new(k).unwrap())),
        "[a-z \"'.]{0,8}".prop_map(|s| Operand::Literal(json!(s))),
        any::<i32>().prop_map(|n| Operand::Literal(json!(n))),
    ]
}

fn condition() -> impl Strategy<Value = Condition> {
    let leaf = prop_oneof![
        (operand(), operand(), 0..6usize).prop_map(|(left, right, op)| Condition::Compare {
            left,
            op: [CompareOp::Eq, CompareOp::Ne, CompareOp::Lt, CompareOp::Gt, CompareOp::Le, CompareOp::Ge][op],
            right
        }),
        (operand(), operand(), any::<bool>()).prop_map(|(needle, haystack, negated)| Condition::In { needle, haystack, negated }),
        operand().prop_map(Condition::Truthy),
    ];
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a.and(b)),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Condition::Or(Box::new(a), Box::new(b))),
            inner.prop_map(Condition::negate),
        ]
    })
}

proptest! {
    #[test]
    fn display_then_parse_round_trips(c in condition()) {
        let text = c.to_string();
        let reparsed = Condition::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(reparsed, c, "{}", text);
    }

    #[test]
    fn parsing_never_panics(text in ".{0,60}") {
        let _ = Condition::parse(&text);
    }
}
