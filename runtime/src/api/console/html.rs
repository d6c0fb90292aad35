//! The console's HTML pieces: escaping, the page frame, tables and the
//! small parts several pages share. Every value from the store or a
//! request goes through [`esc`].

use crate::error::Error;
use std::fmt::Write;

/// Text made safe to put in HTML (content or a quoted attribute).
pub(super) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A path segment or query value, percent-encoded (then HTML-escaped by the caller's `esc`).
pub(super) fn url_part(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A whole page: the navigation (with `active` marked), the signed-in
/// tenant and role, and `body`.
/// A form's hidden CSRF field.
pub(super) fn csrf_field(csrf: &str) -> String {
    format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", esc(csrf))
}

/// A whole page: `who` is the tenant, role and CSRF token of the viewer.
pub(super) fn page(
    title: &str,
    active: &str,
    who: Option<(&str, &str, &str)>,
    body: &str,
) -> axum::response::Html<String> {
    let mut nav = String::new();
    for (href, name) in [
        ("/console/executions", "Executions"),
        ("/console/deployments", "Deployments"),
        ("/console/schedules", "Schedules"),
    ] {
        let class = if name == active { " class=\"active\"" } else { "" };
        let _ = write!(nav, "<a href=\"{href}\"{class}>{name}</a>");
    }
    let who = match who {
        Some((tenant, role, csrf)) => format!(
            "<span class=\"who\">tenant <b>{}</b> · {}</span>\
             <form method=\"post\" action=\"/console/sign-out\">{}<button class=\"link\">sign out</button></form>",
            esc(tenant),
            esc(role),
            csrf_field(csrf)
        ),
        None => String::new(),
    };
    axum::response::Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Cairn</title><link rel=\"stylesheet\" href=\"/console/app.css\">\
         <script src=\"/console/app.js\" defer></script></head><body>\
         <header><a class=\"brand\" href=\"/console\">Cairn</a><nav>{nav}</nav>{who}</header>\
         <main><h1>{title}</h1>{body}</main></body></html>",
        title = esc(title)
    ))
}

/// An error: code, message and hint.
pub(super) fn error_box(e: &Error) -> String {
    format!(
        "<div class=\"error\"><b>{}</b> {}<div class=\"hint\">hint: {}</div></div>",
        esc(e.code.0),
        esc(&e.message),
        esc(&e.hint)
    )
}

/// A stored error (`{code, message, hint}` as JSON) as an error box; other
/// text as it is.
pub(super) fn stored_error(value: &serde_json::Value) -> String {
    let field = |name: &str| value.get(name).and_then(|v| v.as_str());
    match (field("code"), field("message")) {
        (Some(code), Some(message)) => format!(
            "<div class=\"error\"><b>{}</b> {}<div class=\"hint\">hint: {}</div></div>",
            esc(code),
            esc(message),
            esc(field("hint").unwrap_or_default())
        ),
        _ => format!("<pre>{}</pre>", esc(&pretty(value))),
    }
}

/// JSON, indented.
pub(super) fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// The sign-in form, with the error of a refused token.
pub(super) fn sign_in_form(error: Option<&Error>) -> String {
    format!(
        "{}<form class=\"card\" method=\"post\" action=\"/console/sign-in\">\
         <label>API token <input name=\"token\" type=\"password\" autocomplete=\"off\" required></label>\
         <button>Sign in</button><p class=\"hint\">A token from <code>cairn token create</code>; \
         the console sees what the token may see.</p></form>",
        error.map(error_box).unwrap_or_default()
    )
}

/// A status as a coloured badge.
pub(super) fn badge(status: &str) -> String {
    format!("<span class=\"badge {0}\">{0}</span>", esc(status))
}

/// A table: headers and rows of HTML cells (already escaped).
pub(super) fn table(id: &str, headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = format!("<table id=\"{id}\"><thead><tr>");
    for h in headers {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    if rows.is_empty() {
        let _ = write!(
            out,
            "<tr><td colspan=\"{}\" class=\"empty\">nothing here</td></tr>",
            headers.len()
        );
    }
    out.push_str("</tbody></table>");
    out
}

/// A time (ms since the epoch) as RFC 3339, in a `<time>` the script shows as local.
pub(super) fn time(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    let text = humantime::format_rfc3339_millis(t).to_string();
    format!("<time datetime=\"{text}\">{text}</time>")
}

#[cfg(test)]
mod tests {
    #[test]
    fn markup_in_values_is_escaped() {
        assert_eq!(
            super::esc("<b a=\"x\">'&'</b>"),
            "&lt;b a=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/b&gt;"
        );
        assert_eq!(super::url_part("a b/c@d"), "a%20b%2Fc%40d");
    }
}
