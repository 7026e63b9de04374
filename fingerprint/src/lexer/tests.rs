//! Tests of the lexer.

use super::*;

fn kinds(sql: &str) -> Vec<(Kind, &str)> {
    Lexer::new(sql)
        .filter(|t| !t.kind.is_trivia())
        .map(|t| (t.kind, t.text))
        .collect()
}

#[test]
fn strings_of_every_prefix_are_single_tokens() {
    let sql = r"'a''b' E'it\'s' B'101' X'ff' N'n' U&'d\0061' $$x$$ $tag$ $$ $tag$";
    let got: Vec<Kind> = kinds(sql).into_iter().map(|(k, _)| k).collect();
    assert_eq!(got, vec![Kind::String; 8]);
}

#[test]
fn nested_block_comments_end_at_the_outer_close() {
    let got = kinds("a /* x /* y */ z */ b");
    assert_eq!(got, vec![(Kind::Word, "a"), (Kind::Word, "b")]);
}

#[test]
fn operator_does_not_end_in_minus_without_special_char() {
    assert_eq!(
        kinds("a=-1"),
        vec![
            (Kind::Word, "a"),
            (Kind::Operator, "="),
            (Kind::Operator, "-"),
            (Kind::Number, "1")
        ]
    );
    assert_eq!(kinds("a@-1")[1], (Kind::Operator, "@-"));
}

#[test]
fn operator_stops_before_comment() {
    assert_eq!(kinds("a+/*c*/b").len(), 3);
    assert_eq!(kinds("a=--c\nb").len(), 3);
}

#[test]
fn numbers_in_every_form() {
    for n in [
        "42",
        "3.14",
        ".5",
        "1e10",
        "1.5E-3",
        "0x1F",
        "0o17",
        "0b101",
        "1_000_000",
    ] {
        assert_eq!(kinds(n), vec![(Kind::Number, n)], "{n}");
    }
}

#[test]
fn parameters_and_identifiers_with_dollars() {
    assert_eq!(
        kinds("$1 a$b $12"),
        vec![
            (Kind::Param, "$1"),
            (Kind::Word, "a$b"),
            (Kind::Param, "$12")
        ]
    );
}

#[test]
fn unterminated_constructs_run_to_the_end() {
    assert_eq!(
        kinds("select 'abc"),
        vec![(Kind::Word, "select"), (Kind::String, "'abc")]
    );
    assert_eq!(kinds("select /* abc").len(), 1);
    assert_eq!(kinds("select $q$ abc").len(), 2);
    assert_eq!(kinds("select \"abc").len(), 2);
}

#[test]
fn multibyte_text_never_splits_a_character() {
    let sql = "select 'é' , ñame, \u{1F600}";
    let joined: String = Lexer::new(sql).map(|t| t.text).collect();
    assert_eq!(joined, sql);
}

#[test]
fn casts_and_slices() {
    assert_eq!(
        kinds("a::int[1:2]")
            .into_iter()
            .map(|(k, _)| k)
            .collect::<Vec<_>>(),
        vec![
            Kind::Word,
            Kind::DoubleColon,
            Kind::Word,
            Kind::LBracket,
            Kind::Number,
            Kind::Colon,
            Kind::Number,
            Kind::RBracket
        ]
    );
}

fn texts(sql: &str, strings: ConformingStrings) -> Vec<&str> {
    Lexer::with(sql, strings)
        .filter(|t| !t.kind.is_trivia())
        .map(|t| t.text)
        .collect()
}

#[test]
fn with_conforming_strings_off_a_backslash_escapes_inside_plain_strings() {
    let off = ConformingStrings::Off;
    assert_eq!(
        texts(r"select 'it\'s there', x", off),
        vec!["select", r"'it\'s there'", ",", "x"]
    );
    assert_eq!(texts(r"'a\\' b", off), vec![r"'a\\'", "b"]);
    assert_eq!(texts(r"'a''b\'' c", off), vec![r"'a''b\''", "c"]);
    assert_eq!(texts(r"N'it\'s' c", off), vec![r"N'it\'s'", "c"]);
}

#[test]
fn with_conforming_strings_on_a_backslash_is_an_ordinary_character() {
    let on = ConformingStrings::On;
    assert_eq!(
        texts(r"select 'C:\' , x from t", on),
        vec!["select", r"'C:\'", ",", "x", "from", "t"]
    );
    assert_eq!(
        texts(r"a like 'x\_y' escape '\' and b", on),
        vec!["a", "like", r"'x\_y'", "escape", r"'\'", "and", "b"]
    );
    assert_eq!(texts(r"'a''b' c", on), vec!["'a''b'", "c"]);
    assert_eq!(texts(r"U&'d\0061t\' c", on), vec![r"U&'d\0061t\'", "c"]);
}

#[test]
fn escape_strings_escape_under_every_setting() {
    for strings in [
        ConformingStrings::On,
        ConformingStrings::Off,
        ConformingStrings::Unknown,
    ] {
        assert_eq!(
            texts(r"select E'it\'s', e'\\' x", strings),
            vec!["select", r"E'it\'s'", ",", r"e'\\'", "x"],
            "{strings:?}"
        );
    }
}

#[test]
fn dollar_quotes_bit_strings_and_identifiers_ignore_the_setting() {
    for strings in [
        ConformingStrings::On,
        ConformingStrings::Off,
        ConformingStrings::Unknown,
    ] {
        assert_eq!(
            texts(r#"$$it\'s$$ B'1\' X'f\' "a\" z"#, strings),
            vec![r"$$it\'s$$", r"B'1\'", r"X'f\'", r#""a\""#, "z"],
            "{strings:?}"
        );
    }
}

#[test]
fn under_on_a_string_written_for_off_swallows_the_rest() {
    let on = ConformingStrings::On;
    // Unbalanced when read with `on`.
    assert_eq!(
        texts(r"select 'it\'s SECRET there' from t", on),
        vec!["select", r"'it\'s SECRET there' from t"]
    );
    // Balanced both ways: ambiguous, so nothing after the first doubtful quote is copied.
    assert_eq!(
        texts(r"select 'it\'s SECRET, Bob\'s' from t", on),
        vec!["select", r"'it\'s SECRET, Bob\'s' from t"]
    );
}

#[test]
fn an_unknown_setting_swallows_the_rest_at_the_first_doubtful_string() {
    let unknown = ConformingStrings::Unknown;
    assert_eq!(
        texts(r"select 'C:\' , x", unknown),
        vec!["select", r"'C:\' , x"]
    );
    // A backslash that does not touch a quote reads the same either way.
    assert_eq!(
        texts(r"select '\d+' , x", unknown),
        vec!["select", r"'\d+'", ",", "x"]
    );
}

#[test]
fn unicode_strings_are_refused_by_the_server_under_off_and_swallowed_if_doubtful() {
    let off = ConformingStrings::Off;
    assert_eq!(texts(r"U&'d\0061t\' , x", off), vec![r"U&'d\0061t\' , x"]);
    assert_eq!(
        texts(r"U&'d\0061t' , x", off),
        vec![r"U&'d\0061t'", ",", "x"]
    );
}

#[test]
fn the_setting_is_read_from_its_parameter_status_value() {
    assert_eq!(
        ConformingStrings::from_parameter(b"on"),
        ConformingStrings::On
    );
    assert_eq!(
        ConformingStrings::from_parameter(b"OFF"),
        ConformingStrings::Off
    );
    assert_eq!(
        ConformingStrings::from_parameter(b"?"),
        ConformingStrings::Unknown
    );
    assert_eq!(ConformingStrings::default(), ConformingStrings::On);
}
