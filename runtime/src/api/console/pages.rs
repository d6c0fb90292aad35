//! The console's pages and actions, each over one or a few node commands
//! called as the signed-in token.

use super::html::{self, esc, url_part};
use super::{PageError, Viewer, redirect};
use crate::api::ApiState;
use crate::journal::timeline::{self, Span};
use crate::model::{Entry, Status, now_ms, tenancy};
use crate::node::{COUNT_CAP, JournalEntry, ListQuery};
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::{Form, Json};
use serde::Deserialize;
use std::fmt::Write;

type Page = Result<Html<String>, PageError>;

fn frame(viewer: &Viewer, title: &str, active: &str, body: &str) -> Html<String> {
    let caller = &viewer.0;
    html::page(
        title,
        active,
        Some((&caller.tenant, caller.role.as_str(), &viewer.1)),
        body,
    )
}

/// Filters of the executions page.
#[derive(Deserialize, Default)]
pub(super) struct Filters {
    #[serde(default)]
    status: String,
    #[serde(default)]
    workflow: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    cursor: String,
    /// Created at or after (`YYYY-MM-DDTHH:MM[:SS]`, the browser's time).
    #[serde(default)]
    from: String,
    /// Created before.
    #[serde(default)]
    to: String,
    /// The browser's offset from UTC in minutes (`Date.getTimezoneOffset`,
    /// set by the page's script; UTC without it).
    #[serde(default)]
    tz: String,
}

/// A time from the filter form (`YYYY-MM-DDTHH:MM[:SS]` in the browser's
/// time zone, `tz` minutes behind UTC; a trailing `Z` means UTC) as ms
/// since the epoch.
fn filter_time(text: &str, tz: &str, which: &str) -> Result<Option<i64>, PageError> {
    let Some(text) = some(text) else { return Ok(None) };
    let bad = || {
        crate::error::Error::invalid(
            format!("`{which}` is not a time: {}", crate::error::echo(&text)),
            "pick it with the form's calendar, or write YYYY-MM-DDTHH:MM",
        )
    };
    let utc = text.ends_with('Z') || text.ends_with('z');
    let full = if text.len() == 16 {
        format!("{text}:00")
    } else {
        text.clone()
    };
    let at = humantime::parse_rfc3339_weak(&full).map_err(|_| bad())?;
    let ms = at.duration_since(std::time::UNIX_EPOCH).map_err(|_| bad())?.as_millis() as i64;
    let offset: i64 = match some(tz) {
        Some(_) if utc => 0,
        Some(tz) => tz.parse::<i64>().ok().filter(|m| m.abs() <= 24 * 60).ok_or_else(bad)?,
        None => 0,
    };
    Ok(Some(ms + offset * 60_000))
}

fn some(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// `GET /console/counts`: the tenant's executions by status (the page's
/// live counts poll it).
pub(super) async fn counts(State(s): State<ApiState>, viewer: Viewer) -> Result<Response, PageError> {
    let counts = s.node.status_counts(&viewer.0).await?;
    let map: serde_json::Map<String, serde_json::Value> = counts
        .into_iter()
        .map(|(st, n)| {
            let shown = match n {
                n if n > COUNT_CAP => format!("{COUNT_CAP}+").into(),
                n => n.into(),
            };
            (st.as_str().to_owned(), shown)
        })
        .collect();
    Ok(Json(map).into_response())
}

/// `GET /console/executions`: filters, live counts, a page of executions.
pub(super) async fn executions(
    State(s): State<ApiState>,
    viewer: Viewer,
    Query(f): Query<Filters>,
) -> Result<Response, PageError> {
    if let Some(id) = some(&f.id) {
        return Ok(redirect(&format!("/console/executions/{}", url_part(&id))));
    }
    let query = ListQuery {
        status: some(&f.status),
        workflow: some(&f.workflow),
        from_ms: filter_time(&f.from, &f.tz, "from")?,
        to_ms: filter_time(&f.to, &f.tz, "to")?,
        limit: Some(50),
        cursor: some(&f.cursor),
    };
    let page = s.node.list(&viewer.0, &query).await?;
    // The counts come from /console/counts as soon as the page loads (and
    // every 2 s): counting is the slow part with many executions, and the
    // page does not wait for it.
    let mut body = String::from("<div class=\"counts\" data-live=\"/console/counts\">");
    for status in Status::ALL {
        let _ = write!(
            body,
            "<a href=\"/console/executions?status={0}\">{1} <b data-count=\"{0}\">…</b></a>",
            status.as_str(),
            html::badge(status.as_str())
        );
    }
    body.push_str("</div><form class=\"filters\" method=\"get\">");
    let _ = write!(
        body,
        "<input name=\"id\" placeholder=\"execution id\" aria-label=\"execution id\">\
         <button>Find</button><select name=\"status\" aria-label=\"status\"><option value=\"\">any status</option>"
    );
    for status in Status::ALL {
        let selected = if f.status == status.as_str() { " selected" } else { "" };
        let _ = write!(body, "<option{selected}>{}</option>", status.as_str());
    }
    let _ = write!(
        body,
        "</select><input name=\"workflow\" placeholder=\"workflow\" aria-label=\"workflow\" value=\"{}\">\
         <label>created from <input type=\"datetime-local\" step=\"1\" name=\"from\" value=\"{}\"></label>\
         <label>to <input type=\"datetime-local\" step=\"1\" name=\"to\" value=\"{}\"></label>\
         <input type=\"hidden\" name=\"tz\" value=\"{}\"><button>Filter</button></form>",
        esc(&f.workflow),
        esc(&f.from),
        esc(&f.to),
        esc(&f.tz)
    );
    let rows: Vec<Vec<String>> = page
        .executions
        .iter()
        .map(|e| {
            vec![
                format!("<a href=\"/console/executions/{}\">{}</a>", url_part(&e.id), esc(&e.id)),
                html::badge(e.status.as_str()),
                esc(&e.workflow),
                html::time(e.created_at_ms),
                html::time(e.updated_at_ms),
            ]
        })
        .collect();
    body.push_str(&html::table(
        "executions",
        &["Execution", "Status", "Workflow", "Created", "Updated"],
        &rows,
    ));
    if let Some(cursor) = &page.next_cursor {
        let kept = [
            ("status", &f.status),
            ("workflow", &f.workflow),
            ("from", &f.from),
            ("to", &f.to),
            ("tz", &f.tz),
        ];
        let mut href = String::from("/console/executions?");
        for (name, value) in kept.iter().filter(|(_, v)| !v.is_empty()) {
            let _ = write!(href, "{name}={}&", url_part(value));
        }
        let _ = write!(href, "cursor={}", url_part(cursor));
        let _ = write!(body, "<p><a class=\"next\" href=\"{}\">Older →</a></p>", esc(&href));
    }
    Ok(frame(&viewer, "Executions", "Executions", &body).into_response())
}

/// `GET /console/executions/{id}`: one execution, what it waits for, its
/// timeline, and the actions.
pub(super) async fn execution(State(s): State<ApiState>, viewer: Viewer, Path(id): Path<String>) -> Page {
    let caller = &viewer.0;
    let detail = s.node.describe(caller, &id).await?;
    let journal = s.node.journal(caller, &id).await?;
    let e = &detail.execution;
    let versions: Vec<String> = s
        .node
        .deployments(caller)
        .await?
        .into_iter()
        .filter(|d| d.component == e.component)
        .map(|d| format!("{}@{}", esc(&d.name), d.version))
        .collect();
    let mut body = String::new();
    let mut fields: Vec<(&str, String)> = vec![
        ("Status", html::badge(e.status.as_str())),
        ("Workflow", esc(&e.workflow)),
        (
            "Component",
            format!(
                "<code>{}</code>{}",
                esc(&e.component),
                if versions.is_empty() {
                    String::new()
                } else {
                    format!(" — deployed as {}", versions.join(", "))
                }
            ),
        ),
        ("Created", html::time(e.created_at_ms)),
        ("Updated", html::time(e.updated_at_ms)),
        ("Input", format!("<pre>{}</pre>", esc(&pretty_text(&e.input)))),
    ];
    if let Some(output) = &e.output {
        fields.push(("Output", format!("<pre>{}</pre>", esc(&pretty_text(output)))));
    }
    if let Some(error) = &e.error {
        let value = serde_json::from_str(error).unwrap_or_else(|_| serde_json::Value::String(error.clone()));
        fields.push(("Error", html::stored_error(&value)));
    }
    if let Some(parent) = &e.parent {
        fields.push((
            "Parent",
            format!(
                "<a href=\"/console/executions/{}\">{}</a>",
                url_part(parent),
                esc(parent)
            ),
        ));
    }
    let children = children_of(&journal);
    if !children.is_empty() {
        let links: Vec<String> = children
            .iter()
            .map(|c| format!("<a href=\"/console/executions/{}\">{}</a>", url_part(c), esc(c)))
            .collect();
        fields.push(("Children", links.join(" ")));
    }
    let stored: Vec<Entry> = journal.iter().map(JournalEntry::to_stored).collect();
    let spans = timeline::spans(&stored);
    let waits = waits_of(&spans, &stored, e.status, e.wake_at_ms, detail.inbox_messages);
    if !waits.is_empty() {
        fields.push(("Waiting for", waits.join("<br>")));
    }
    body.push_str("<dl class=\"fields\">");
    for (name, value) in fields {
        let _ = write!(body, "<dt>{name}</dt><dd>{value}</dd>");
    }
    body.push_str("</dl>");
    if e.status.is_unfinished() {
        body.push_str(&actions(&e.id, &viewer.1));
    }
    body.push_str(&timeline_html(&spans, &stored));
    Ok(frame(&viewer, &format!("Execution {}", e.id), "Executions", &body))
}

fn pretty_text(text: &str) -> String {
    serde_json::from_str(text).map_or_else(|_| text.to_owned(), |v| html::pretty(&v))
}

/// The ids of the children an execution started.
fn children_of(journal: &[JournalEntry]) -> Vec<String> {
    journal
        .iter()
        .filter(|e| e.kind == crate::journal::Command::CHILD_START)
        .filter_map(|e| e.payload["result"]["id"].as_str())
        .map(|id| tenancy::name_of(id).to_owned())
        .collect()
}

/// What an unfinished execution waits for now: its open steps (an
/// activity with its attempts and next retry, a timer with its due time,
/// a signal, a child), its wake-up time, its inbox.
fn waits_of(spans: &[Span], stored: &[Entry], status: Status, wake_at: Option<i64>, inbox: usize) -> Vec<String> {
    if !status.is_unfinished() {
        return Vec::new();
    }
    let mut waits = Vec::new();
    for span in spans.iter().filter(|s| s.end_ms.is_none()) {
        let mut text = esc(&span.label);
        let args: serde_json::Value = stored
            .iter()
            .find(|e| e.seq == span.seq)
            .and_then(|e| serde_json::from_str(&e.payload).ok())
            .unwrap_or_default();
        if let Some(ms) = args["args"]["duration_ms"].as_i64() {
            let _ = write!(text, ", due {}", html::time(span.start_ms + ms));
        }
        if let Some(ms) = args["args"]["timeout_ms"].as_i64() {
            let _ = write!(text, ", times out {}", html::time(span.start_ms + ms));
        }
        let retry = span
            .entries
            .iter()
            .rev()
            .filter_map(|seq| stored.iter().find(|e| e.seq == *seq))
            .find(|e| e.kind == crate::journal::Event::ACTIVITY_RETRY)
            .and_then(|e| serde_json::from_str::<serde_json::Value>(&e.payload).ok());
        if let Some(retry) = retry {
            let _ = write!(
                text,
                ", attempt {} failed ({}), next attempt {}",
                retry["data"]["attempts"],
                esc(retry["data"]["failure"]["message"].as_str().unwrap_or_default()),
                html::time(retry["data"]["next_at_ms"].as_i64().unwrap_or_default())
            );
        }
        waits.push(text);
    }
    // A suspended execution with no open step says when it looks again.
    if let Some(at) = wake_at.filter(|_| status == Status::Sleeping && waits.is_empty()) {
        waits.push(format!(
            "wakes {} (a timer, or a signal wait's timeout)",
            html::time(at)
        ));
    }
    if waits.is_empty() && status == Status::Sleeping {
        waits.push("a signal (or another event)".to_owned());
    }
    if inbox > 0 {
        waits.push(format!("{inbox} message(s) in its inbox"));
    }
    waits
}

/// The journal as a timeline: a bar per step on one time axis; a step
/// opens to show its entries' payloads.
fn timeline_html(spans: &[Span], stored: &[Entry]) -> String {
    let Some(first) = spans.first().map(|s| s.start_ms) else {
        return String::new();
    };
    let now = timeline::ended_at(stored).unwrap_or_else(now_ms);
    let last = spans.iter().map(|s| s.end_ms.unwrap_or(now)).max().unwrap_or(first);
    let total = (last - first).max(1) as f64;
    let mut out = format!(
        "<h2>Timeline</h2><div class=\"timeline\" id=\"timeline\" data-steps=\"{}\">\
         <div class=\"axis\"><span>0 ms</span><span>{} ms</span></div>",
        spans.len(),
        last - first
    );
    for span in spans {
        let end = span.end_ms.unwrap_or(now);
        let left = (span.start_ms - first) as f64 / total * 100.0;
        let width = ((end - span.start_ms) as f64 / total * 100.0).max(0.4);
        let mut classes = String::from("step");
        if span.failed {
            classes.push_str(" failed");
        }
        if span.end_ms.is_none() {
            classes.push_str(" open");
        }
        if span.attempts > 1 {
            classes.push_str(" retried");
        }
        let mut note = format!("{} ms", end - span.start_ms);
        if span.attempts > 1 {
            let _ = write!(note, " · {} attempts", span.attempts);
        }
        if span.failed {
            note.push_str(" · failed");
        }
        let _ = write!(
            out,
            "<details class=\"{classes}\" data-seq=\"{}\"><summary><span class=\"seq\">{}</span>\
             <span class=\"label\">{}</span><span class=\"track\"><span class=\"bar\" \
             data-left=\"{left:.2}\" data-width=\"{width:.2}\"></span></span><span class=\"took\">{}</span></summary>",
            span.seq,
            span.seq,
            esc(&span.label),
            esc(&note)
        );
        for seq in &span.entries {
            if let Some(entry) = stored.iter().find(|e| e.seq == *seq) {
                let _ = write!(
                    out,
                    "<div class=\"entry\"><b>#{} {}</b> {}<pre>{}</pre></div>",
                    entry.seq,
                    esc(&entry.kind),
                    html::time(entry.at_ms),
                    esc(&pretty_text(&entry.payload))
                );
            }
        }
        out.push_str("</details>");
    }
    out.push_str("</div>");
    out
}

/// Signal, cancel and terminate, each asking for a confirmation.
fn actions(id: &str, csrf: &str) -> String {
    let base = format!("/console/executions/{}", url_part(id));
    let csrf = html::csrf_field(csrf);
    format!(
        "<div class=\"actions\">\
         <form method=\"post\" action=\"{base}/signal\" data-confirm=\"Send this signal to {id}?\">{csrf}\
         <input name=\"name\" placeholder=\"signal name\" aria-label=\"signal name\" required>\
         <input name=\"payload\" placeholder=\"JSON payload\" aria-label=\"signal payload\" value=\"null\">\
         <button>Send signal</button></form>\
         <form method=\"post\" action=\"{base}/cancel\" data-confirm=\"Ask {id} to cancel?\">{csrf}<button>Cancel</button></form>\
         <form method=\"post\" action=\"{base}/terminate\" data-confirm=\"Terminate {id} now, without compensation?\">{csrf}\
         <input name=\"reason\" placeholder=\"reason\" aria-label=\"reason\"><button class=\"danger\">Terminate</button></form>\
         </div>",
        id = esc(id)
    )
}

/// A signal from the page.
#[derive(Deserialize)]
pub(super) struct SignalForm {
    name: String,
    #[serde(default)]
    payload: String,
    #[serde(default)]
    csrf: String,
}

fn back_to(id: &str) -> Response {
    redirect(&format!("/console/executions/{}", url_part(id)))
}

/// `POST /console/executions/{id}/signal`.
pub(super) async fn signal(
    State(s): State<ApiState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<SignalForm>,
) -> Result<Response, PageError> {
    viewer.check_csrf(&form.csrf)?;
    let text = if form.payload.trim().is_empty() {
        "null"
    } else {
        form.payload.trim()
    };
    let payload: serde_json::Value =
        serde_json::from_str(text).map_err(|_| crate::error::Error::invalid_json("the signal's payload"))?;
    s.node.signal(&viewer.0, &id, form.name.trim(), &payload).await?;
    Ok(back_to(&id))
}

/// `POST /console/executions/{id}/cancel`.
pub(super) async fn cancel(
    State(s): State<ApiState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<super::CsrfForm>,
) -> Result<Response, PageError> {
    viewer.check_csrf(&form.csrf)?;
    s.node.cancel(&viewer.0, &id).await?;
    Ok(back_to(&id))
}

/// Why an execution is terminated.
#[derive(Deserialize)]
pub(super) struct TerminateForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /console/executions/{id}/terminate`.
pub(super) async fn terminate(
    State(s): State<ApiState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<TerminateForm>,
) -> Result<Response, PageError> {
    viewer.check_csrf(&form.csrf)?;
    let reason = some(&form.reason);
    s.node.terminate(&viewer.0, &id, reason.as_deref()).await?;
    Ok(back_to(&id))
}

/// `GET /console/deployments`.
pub(super) async fn deployments(State(s): State<ApiState>, viewer: Viewer) -> Page {
    let list = s.node.deployments(&viewer.0).await?;
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|d| {
            let grants: Vec<String> = d
                .bindings
                .http_allow
                .iter()
                .map(|(name, hosts)| format!("{} → {}", esc(name), esc(&hosts.join(", "))))
                .collect();
            vec![
                esc(&d.name),
                d.version.to_string(),
                format!("<code>{}</code>", esc(&d.component[..12.min(d.component.len())])),
                d.bindings.activities.len().to_string(),
                grants.join("<br>"),
                html::time(d.created_at_ms),
            ]
        })
        .collect();
    let body = html::table(
        "deployments",
        &["Name", "Version", "Component", "Activities", "HTTP grants", "Deployed"],
        &rows,
    );
    Ok(frame(&viewer, "Deployments", "Deployments", &body))
}

/// `GET /console/schedules`.
pub(super) async fn schedules(State(s): State<ApiState>, viewer: Viewer) -> Page {
    let list = s.node.schedules(&viewer.0).await?;
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|s| {
            vec![
                esc(&s.id),
                format!("<code>{}</code>", esc(&s.cron)),
                esc(&s.workflow),
                html::time(s.next_fire_at_ms),
            ]
        })
        .collect();
    let body = html::table("schedules", &["Schedule", "Cron", "Workflow", "Next firing"], &rows);
    Ok(frame(&viewer, "Schedules", "Schedules", &body))
}
