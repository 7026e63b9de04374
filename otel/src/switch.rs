//! Whether spans are exported at all: `tracing.enabled`, overridden by the two standard
//! variables that switch a signal — `OTEL_SDK_DISABLED` and `OTEL_TRACES_EXPORTER`.

use super::settings::OtelEnv;
use super::OtelError;

const DISABLED: &str = "true or false";
const EXPORTER: &str = "otlp or none";

/// Whether to export spans, given `configured` (`tracing.enabled`) and the environment:
///
/// * `OTEL_SDK_DISABLED=true` switches tracing off, whatever else is set (the specification
///   makes it disable every signal); `false` changes nothing;
/// * otherwise `OTEL_TRACES_EXPORTER=otlp` switches it on and `none` off;
/// * otherwise `configured` decides.
///
/// Both are read case-insensitively; any other value is an error naming the variable
/// (pgscope exports OTLP only: a `console` or `zipkin` request must not silently become OTLP).
pub fn tracing_enabled(
    configured: bool,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<bool, OtelError> {
    let env = OtelEnv::new(env);
    let invalid = |name, value: &str, expected| OtelError::InvalidEnv {
        name,
        value: value.to_owned(),
        expected,
    };
    if let Some((name, value)) = env.first(&["OTEL_SDK_DISABLED"]) {
        match value.to_ascii_lowercase().as_str() {
            "true" => return Ok(false),
            "false" => {}
            _ => return Err(invalid(name, value, DISABLED)),
        }
    }
    match env.first(&["OTEL_TRACES_EXPORTER"]) {
        None => Ok(configured),
        Some((name, value)) => match value.to_ascii_lowercase().as_str() {
            "otlp" => Ok(true),
            "none" => Ok(false),
            _ => Err(invalid(name, value, EXPORTER)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> Vec<(String, String)> {
        vars.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn without_the_variables_the_configuration_decides() {
        assert!(tracing_enabled(true, with(&[])).unwrap());
        assert!(!tracing_enabled(false, with(&[])).unwrap());
        assert!(!tracing_enabled(false, with(&[("OTEL_TRACES_EXPORTER", " ")])).unwrap());
    }

    #[test]
    fn traces_exporter_otlp_switches_on_and_none_off() {
        assert!(tracing_enabled(false, with(&[("OTEL_TRACES_EXPORTER", "otlp")])).unwrap());
        assert!(!tracing_enabled(true, with(&[("OTEL_TRACES_EXPORTER", "NONE")])).unwrap());
    }

    #[test]
    fn sdk_disabled_wins_over_everything() {
        let env = with(&[
            ("OTEL_SDK_DISABLED", "TRUE"),
            ("OTEL_TRACES_EXPORTER", "otlp"),
        ]);
        assert!(!tracing_enabled(true, env).unwrap());
        let env = with(&[("OTEL_SDK_DISABLED", "false")]);
        assert!(tracing_enabled(true, env).unwrap());
    }

    #[test]
    fn other_values_are_errors_naming_the_variable() {
        let error = tracing_enabled(true, with(&[("OTEL_TRACES_EXPORTER", "console")]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("OTEL_TRACES_EXPORTER"), "{error}");
        let error = tracing_enabled(true, with(&[("OTEL_SDK_DISABLED", "yes")]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("OTEL_SDK_DISABLED"), "{error}");
    }
}
