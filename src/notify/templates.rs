//! Notice texts: every SMS and mail a resident or department gets is a template from config
//! rendered here with `minijinja`, so a city can reword any notice without a new build.
//!
//! Placeholders are minijinja's `{{ number }}`. The older `{number}` form still works for a
//! name the notice provides, so a city's existing config keeps its meaning; any other
//! `{word}` stays as written, so a typo shows up in the text instead of silently vanishing.

use std::sync::LazyLock;

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, UndefinedBehavior, Value};

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    if let Ok(syntax) = SyntaxConfig::builder().keep_trailing_newline(true).build() {
        env.set_syntax(syntax);
    }
    env
});

/// Renders `template` with `vars`. A template minijinja refuses (a syntax error or an
/// unknown name) is sent as written and logged, rather than losing the notice.
pub fn render(template: &str, vars: &[(&str, &str)]) -> String {
    let source = upgrade_legacy(template, vars);
    let ctx = Value::from_pairs(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    match ENV.render_str(&source, ctx) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(template, "notice template not rendered: {e}");
            template.to_string()
        }
    }
}

/// `{name}` → `{{ name }}` for the names in `vars`; everything else unchanged.
fn upgrade_legacy(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let (before, from) = rest.split_at(open);
        out.push_str(before);
        let after_open = &from[1..];
        let prev_brace = out.ends_with('{');
        let name_len = after_open
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after_open.len());
        let name = &after_open[..name_len];
        let closes =
            after_open[name_len..].starts_with('}') && !after_open[name_len + 1..].starts_with('}');
        if !prev_brace && closes && vars.iter().any(|(k, _)| *k == name) {
            out.push_str("{{ ");
            out.push_str(name);
            out.push_str(" }}");
            rest = &after_open[name_len + 1..];
        } else {
            out.push('{');
            rest = after_open;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_placeholder_forms_render_the_same() {
        let vars = [("number", "202611260001"), ("department", "城管局")];
        assert_eq!(
            render("工单{{ number }}已转{{ department }}办理。", &vars),
            "工单202611260001已转城管局办理。"
        );
        assert_eq!(
            render("工单{number}已转{department}办理。", &vars),
            "工单202611260001已转城管局办理。"
        );
        assert_eq!(render("{x}{y}", &[("x", "1")]), "1{y}");
        assert_eq!(render("{{ y }}", &[("x", "1")]), "{{ y }}");
        assert_eq!(render("a\n", &[]), "a\n");
        assert_eq!(render("<{x}>&", &[("x", "<b>")]), "<<b>>&");
    }
}
