//! `pgscope fingerprint [--jsonl]`: fingerprint SQL read from standard input.
//!
//! Plain mode reads all of its input as SQL, splits it into statements the way the server
//! would, and prints one line per statement: the 16-hex-digit fingerprint, a space, and the
//! normalized text. `--jsonl` reads one JSON object per line, analyzes its `"query"` field and
//! writes the object back with `"fingerprint"`, `"normalized"`, `"operation"`, `"tables"` and
//! `"summary"` added (every other field copied); a line that cannot be used gets an `"error"`
//! field instead and processing goes on.

use std::io::{BufRead, BufWriter, Write};

use anyhow::Context;
use pgscope_fingerprint::{fingerprint, split_statements, Analyzer};
use serde_json::{Map, Value};

/// How many fingerprints the `--jsonl` mode keeps analyzed (repeated shapes in a log are
/// analyzed once).
const JSONL_CACHE: usize = 5000;

/// Arguments of `pgscope fingerprint`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FingerprintArgs {
    /// Read one JSON object per line, take its "query" field, and write the object back with
    /// "fingerprint", "normalized", "operation", "tables" and "summary" added.
    #[arg(long)]
    pub jsonl: bool,
}

/// Runs the subcommand over `input`, writing results to `output`.
pub fn run(args: &FingerprintArgs, input: impl BufRead, output: impl Write) -> anyhow::Result<()> {
    let mut output = BufWriter::new(output);
    if args.jsonl {
        run_jsonl(input, &mut output)?;
    } else {
        run_plain(input, &mut output)?;
    }
    output.flush().context("writing output")?;
    Ok(())
}

fn run_plain(mut input: impl BufRead, output: &mut impl Write) -> anyhow::Result<()> {
    let mut bytes = Vec::new();
    input
        .read_to_end(&mut bytes)
        .context("reading SQL from standard input")?;
    let sql = String::from_utf8_lossy(&bytes);
    for statement in split_statements(&sql) {
        let (fp, normalized) = fingerprint(statement);
        writeln!(output, "{fp} {normalized}").context("writing output")?;
    }
    Ok(())
}

fn run_jsonl(input: impl BufRead, output: &mut impl Write) -> anyhow::Result<()> {
    let analyzer = Analyzer::new(JSONL_CACHE);
    for (index, line) in input.split(b'\n').enumerate() {
        let line = line.context("reading standard input")?;
        let text = String::from_utf8_lossy(&line);
        if text.trim().is_empty() {
            continue;
        }
        let record = annotate(&analyzer, &text, index + 1);
        serde_json::to_writer(&mut *output, &record).context("writing output")?;
        output.write_all(b"\n").context("writing output")?;
    }
    Ok(())
}

/// The output object for one input line (`line_number` counts from 1).
fn annotate(analyzer: &Analyzer, line: &str, line_number: usize) -> Value {
    let mut object = match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(object)) => object,
        Ok(_) => return error(line_number, "line is JSON but not an object".to_owned()),
        Err(e) => return error(line_number, format!("invalid JSON: {e}")),
    };
    let Some(Value::String(query)) = object.get("query") else {
        object.insert(
            "error".into(),
            Value::String("no \"query\" string field".into()),
        );
        return Value::Object(object);
    };
    let analysis = analyzer.analyze(query);
    object.insert(
        "fingerprint".into(),
        Value::String(analysis.fingerprint.to_string()),
    );
    object.insert(
        "normalized".into(),
        Value::String(analysis.normalized.clone()),
    );
    object.insert(
        "operation".into(),
        Value::String(analysis.operation.as_str().into()),
    );
    object.insert(
        "tables".into(),
        Value::Array(analysis.tables.iter().cloned().map(Value::String).collect()),
    );
    object.insert("summary".into(), Value::String(analysis.summary.clone()));
    Value::Object(object)
}

fn error(line_number: usize, message: String) -> Value {
    let mut object = Map::new();
    object.insert("error".into(), Value::String(message));
    object.insert("line".into(), Value::from(line_number));
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_on(jsonl: bool, input: &str) -> String {
        let mut out = Vec::new();
        run(&FingerprintArgs { jsonl }, input.as_bytes(), &mut out).expect("runs");
        String::from_utf8(out).expect("utf-8")
    }

    fn lines(output: &str) -> Vec<Value> {
        output
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect()
    }

    #[test]
    fn plain_mode_prints_one_line_per_statement() {
        let out = run_on(
            false,
            "SELECT 1;\n-- nothing\nselect  2 ;\nUPDATE t SET a = 'x' WHERE id = 3",
        );
        let rows: Vec<&str> = out.lines().collect();
        assert_eq!(rows.len(), 3, "{out}");
        assert!(rows[0].ends_with(" select $1"));
        assert_eq!(rows[0], rows[1], "same shape, same line");
        assert!(rows[2].ends_with(" update t set a = $1 where id = $2"));
        assert_eq!(rows[2].split(' ').next().map(str::len), Some(16));
    }

    #[test]
    fn plain_mode_on_empty_input_prints_nothing() {
        assert_eq!(run_on(false, ""), "");
    }

    #[test]
    fn jsonl_adds_analysis_and_keeps_other_fields() {
        let input = r#"{"query":"SELECT * FROM users u JOIN orders o ON o.uid = u.id WHERE u.id = 7","duration_ms":12.5,"tags":["a"]}"#;
        let out = lines(&run_on(true, input));
        assert_eq!(out.len(), 1);
        let row = &out[0];
        assert_eq!(row["duration_ms"], 12.5);
        assert_eq!(row["tags"], serde_json::json!(["a"]));
        assert_eq!(row["operation"], "SELECT");
        assert_eq!(row["tables"], serde_json::json!(["users", "orders"]));
        assert_eq!(row["summary"], "SELECT users orders");
        assert_eq!(
            row["normalized"],
            "select * from users u join orders o on o.uid = u.id where u.id = $1"
        );
        assert_eq!(row["fingerprint"].as_str().map(str::len), Some(16));
    }

    #[test]
    fn jsonl_bad_lines_get_an_error_and_processing_goes_on() {
        let input = "not json\n\n[1,2]\n{\"q\":1}\n{\"query\":\"BEGIN\"}\n";
        let out = lines(&run_on(true, input));
        assert_eq!(out.len(), 4, "blank line skipped, others answered");
        assert!(out[0]["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("invalid JSON")));
        assert_eq!(out[0]["line"], 1);
        assert_eq!(out[1]["line"], 3);
        assert_eq!(out[2]["q"], 1);
        assert!(out[2]["error"].is_string());
        assert_eq!(out[3]["operation"], "BEGIN");
        assert!(out[3].get("error").is_none());
    }

    #[test]
    fn jsonl_same_shape_gets_same_fingerprint() {
        let input = "{\"query\":\"select 1\"}\n{\"query\":\"SELECT 2\"}\n";
        let out = lines(&run_on(true, input));
        assert_eq!(out[0]["fingerprint"], out[1]["fingerprint"]);
    }
}
