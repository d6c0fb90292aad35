//! The commands of a node: what users ask of Cairn, through the HTTP API or
//! the CLI. Every one validates its input before it writes anything.

use super::types::*;
use super::{Caller, Node, Rate};
use crate::engine::digest_of;
use crate::error::{Error, Result, codes};
use crate::journal;
use crate::model::syntax;
use crate::model::{
    Bindings, Deployment, Execution, InboxKind, Key, ListFilter, Role, Schedule, Status, StoreEvent, StoreStatus,
    Transition, WorkflowRef, now_ms, tenancy,
};
use serde_json::Value;
use std::time::Duration;

/// Longest a request may wait for an execution to finish.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(60);

/// A wait a request asked for, checked against [`MAX_WAIT`].
pub(crate) fn checked_wait(wait_ms: Option<u64>) -> Result<Duration> {
    let wait = Duration::from_millis(wait_ms.unwrap_or(0));
    if wait > MAX_WAIT {
        return Err(Error::invalid(
            format!("wait_ms {} is out of range", wait.as_millis()),
            format!("wait between 0 and {} ms; wait again for longer", MAX_WAIT.as_millis()),
        ));
    }
    Ok(wait)
}

/// The largest page `list` returns.
const MAX_PAGE: u32 = 1000;

fn parse_statuses(text: Option<&str>) -> Result<Vec<Status>> {
    text.iter()
        .filter(|s| !s.is_empty())
        .flat_map(|s| s.split(','))
        .map(|s| {
            Status::parse(s).ok_or_else(|| {
                Error::invalid(
                    format!("unknown status `{s}`"),
                    "use running, sleeping, completed, failed, parked, terminated, continued or queued, comma-separated",
                )
            })
        })
        .collect()
}

fn parse_cursor(cursor: Option<&str>) -> Result<Option<(i64, &str)>> {
    let Some(c) = cursor else { return Ok(None) };
    let parsed = syntax::cursor(c).ok_or_else(|| Error::invalid("invalid cursor", "pass next_cursor unchanged"))?;
    Ok(Some(parsed))
}

/// A stored JSON text as a value (or as a string, if it is not JSON).
fn json_of(text: &Option<String>) -> Option<Value> {
    text.as_deref()
        .map(|t| serde_json::from_str(t).unwrap_or(Value::String(t.to_owned())))
}

impl Node {
    /// Validates, compiles and stores a component; returns what it is.
    pub async fn upload_component(&self, caller: &Caller, kind: ComponentKind, bytes: &[u8]) -> Result<ComponentInfo> {
        caller.require(Role::Deploy)?;
        let digest = digest_of(bytes);
        self.tenancy.check_component_quota(caller, &digest, bytes.len()).await?;
        let engine = self.engine()?;
        // Bytes this tenant does not hold yet are compiled whatever is
        // cached: how long the upload takes tells nothing of whether
        // another tenant uploaded them.
        let fresh = !self.store.owns_component(&caller.tenant, &digest).await?;
        let activities = match kind {
            ComponentKind::Workflow => {
                engine.workflow(&digest, bytes.to_vec(), fresh).await?;
                Vec::new()
            }
            ComponentKind::Activity => engine.activity(&digest, bytes.to_vec(), fresh).await?.names.clone(),
        };
        self.store.put_component(&digest, bytes).await?;
        self.store
            .own_component(&caller.tenant, &digest, bytes.len() as i64)
            .await?;
        Ok(ComponentInfo {
            digest,
            kind,
            size: bytes.len(),
            activities,
        })
    }

    /// Creates the next version of a named deployment of uploaded components.
    pub async fn deploy(&self, caller: &Caller, req: DeployRequest) -> Result<Deployment> {
        caller.require(Role::Deploy)?;
        let name = caller.deployment(&req.name)?;
        let bindings = req.bindings;
        let imports_of =
            |digest: String| async move { crate::engine::imports_of(&self.component_bytes(&digest).await?) };
        self.tenancy
            .check_capabilities(caller, &req.workflow, &bindings, imports_of)
            .await?;
        self.validate(&req.workflow, &bindings).await?;
        let d = self.store.put_deployment(&name, &req.workflow, &bindings).await?;
        let target = format!("{}@{}", req.name, d.version);
        self.tenancy.audit(caller, "deploy", &target).await?;
        Ok(present_deployment(d))
    }

    /// Every version of every deployment of the caller's tenant.
    pub async fn deployments(&self, caller: &Caller) -> Result<Vec<Deployment>> {
        caller.require(Role::Read)?;
        let all = self.store.deployments(&caller.tenant).await?;
        Ok(all.into_iter().map(present_deployment).collect())
    }

    /// The deployment a workflow reference names in `tenant`.
    async fn resolve(&self, tenant: &str, workflow: &str) -> Result<Deployment> {
        let wanted = WorkflowRef::parse(workflow)
            .filter(|w| syntax::DEPLOYMENT.valid(&w.name))
            .ok_or_else(|| {
                Error::invalid(
                    format!("bad workflow `{}`", crate::error::echo(workflow)),
                    syntax::WORKFLOW_REF_HINT,
                )
            })?;
        self.store
            .deployment(&Key::new(tenant, &wanted.name), wanted.version)
            .await?
            .ok_or_else(|| {
                Error::new(
                    codes::UNKNOWN_WORKFLOW,
                    format!("no deployment `{}`", crate::error::echo(workflow)),
                    "deploy it with `cairn deploy`",
                )
            })
    }

    /// Starts an execution of a deployment for any node to run; idempotent
    /// on the id (starting an existing id with the same workflow and input
    /// returns that execution; with another, `CAIRN-E035`).
    pub async fn start(&self, caller: &Caller, req: StartRequest) -> Result<StartResponse> {
        caller.require(Role::Operate)?;
        self.tenancy.check_rate(caller, Rate::Starts).await?;
        let id = req.id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let key = caller.execution(&id)?;
        let input = req.input.to_string();
        self.tenancy.check_payload(caller, &input).await?;
        self.tenancy.check_journal_room(caller).await?;
        let d = self.resolve(&caller.tenant, &req.workflow).await?;
        let bindings = self.tenancy.within_policy(&caller.tenant, d.bindings).await?;
        let workflow = Key::stored(d.name.clone());
        let mut new = journal::new_execution(key.clone(), &workflow, &d.component, bindings, &input, None);
        new.queue_limit = self.tenancy.queue_limit(&caller.tenant).await?;
        let created = self.place(new).await?.is_new();
        let version = if created {
            d.version
        } else {
            let existing = self.execution(&key).await?;
            if existing.workflow != d.name || existing.input != input {
                return Err(Error::new(
                    codes::ID_REUSED,
                    format!(
                        "execution {id} exists already, of workflow {} with another input",
                        tenancy::name_of(&existing.workflow)
                    ),
                    "use a new id; a start with the same workflow and input returns the existing execution",
                ));
            }
            if existing.component == d.component {
                d.version
            } else {
                0
            }
        };
        Ok(StartResponse {
            id,
            created,
            workflow: tenancy::name_of(&d.name).to_owned(),
            version,
        })
    }

    /// Starts an execution and waits up to `wait` for it to finish: its
    /// result if it did, else the start. Leaving early (a client that hangs
    /// up) neither cancels nor loses the execution.
    pub async fn start_and_wait(&self, caller: &Caller, req: StartRequest, wait: Duration) -> Result<StartAnswer> {
        if wait.is_zero() {
            return Ok(StartAnswer::Started(self.start(caller, req).await?));
        }
        let deadline = tokio::time::Instant::now() + wait.min(MAX_WAIT);
        // Watching before the start: a new execution cannot have ended
        // before it, so the first look at the store is skipped.
        let id = req.id.clone().unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let key = caller.execution(&id)?;
        let watch = self.wakeups.watch_finished(&key);
        let finished = watch.notify().notified();
        let started = self.start(caller, StartRequest { id: Some(id), ..req }).await?;
        let first = started.created.then_some(finished);
        match self.wait_watched(key, deadline, first, &watch).await? {
            (true, result) => Ok(StartAnswer::Finished(result)),
            (false, _) => Ok(StartAnswer::Started(started)),
        }
    }

    /// One execution, by its storage key.
    pub(crate) async fn execution(&self, key: &Key) -> Result<Execution> {
        self.store
            .execution(key)
            .await?
            .ok_or_else(|| Error::no_execution(key.name()))
    }

    /// One execution and the size of its inbox.
    pub async fn describe(&self, caller: &Caller, id: &str) -> Result<ExecutionDetail> {
        caller.require(Role::Read)?;
        let key = caller.execution(id)?;
        let execution = present_execution(self.execution(&key).await?);
        let inbox_messages = self.store.inbox(&key).await?.len();
        Ok(ExecutionDetail {
            execution,
            inbox_messages,
        })
    }

    /// The outcome of an execution, following continue-as-new to the last
    /// run; waits up to `wait` (at most a minute) for it to finish. The
    /// flag says whether the answer is final.
    pub async fn wait_result(&self, caller: &Caller, id: &str, wait: Duration) -> Result<(bool, ResultResponse)> {
        caller.require(Role::Read)?;
        let key = caller.execution(id)?;
        let deadline = tokio::time::Instant::now() + wait.min(MAX_WAIT);
        let watch = self.wakeups.watch_finished(&key);
        self.wait_watched(key, deadline, None, &watch).await
    }

    /// Waits for `id` (watched by `watch`) and the runs it continues as
    /// until one is final or `deadline`; `first`, when given, is a wake-up
    /// to await before the first read (the execution is known unfinished).
    async fn wait_watched(
        &self,
        mut id: Key,
        deadline: tokio::time::Instant,
        first: Option<tokio::sync::futures::Notified<'_>>,
        first_watch: &super::wakeups::Watch<'_>,
    ) -> Result<(bool, ResultResponse)> {
        let mut end: Option<Ended> = None;
        if let Some(finished) = first {
            let nap = deadline.saturating_duration_since(tokio::time::Instant::now());
            tokio::select! {
                _ = finished => end = first_watch.end().map(Ended::from),
                _ = tokio::time::sleep(nap.min(self.config.fallback)) => {}
            }
        }
        loop {
            let e = match end.take() {
                Some(e) => e,
                None => {
                    // Watch before reading, so an end committed in between still wakes us.
                    let watch = self.wakeups.watch_finished(&id);
                    let finished = watch.notify().notified();
                    tokio::pin!(finished);
                    finished.as_mut().enable();
                    let e = Ended::from(self.execution(&id).await?);
                    let now = tokio::time::Instant::now();
                    if e.status.is_unfinished() && e.continued_as().is_none() && now < deadline {
                        let nap = (deadline - now).min(self.config.fallback);
                        tokio::select! {
                            _ = finished => end = watch.end().map(Ended::from),
                            _ = tokio::time::sleep(nap) => {}
                        }
                        continue;
                    }
                    e
                }
            };
            if let Some(next) = e.continued_as() {
                id = Key::stored(next);
                continue;
            }
            if e.status.is_unfinished() && tokio::time::Instant::now() < deadline {
                continue;
            }
            let answer = ResultResponse {
                id: id.name().to_owned(),
                status: e.status,
                output: json_of(&e.output),
                error: json_of(&e.error),
            };
            return Ok((!e.status.is_unfinished(), answer));
        }
    }

    /// The journal of an execution.
    pub async fn journal(&self, caller: &Caller, id: &str) -> Result<Vec<JournalEntry>> {
        caller.require(Role::Read)?;
        let key = caller.execution(id)?;
        self.execution(&key).await?;
        let entries = self.store.journal(&key).await?;
        Ok(entries
            .into_iter()
            .map(|e| JournalEntry {
                seq: e.seq,
                kind: e.kind,
                at_ms: e.at_ms,
                payload: serde_json::from_str(&e.payload).unwrap_or(Value::Null),
            })
            .collect())
    }

    /// A page of executions, newest first.
    pub async fn list(&self, caller: &Caller, q: &ListQuery) -> Result<ExecutionPage> {
        caller.require(Role::Read)?;
        let limit = q.limit.unwrap_or(50);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(Error::invalid(
                format!("limit {limit} is out of range"),
                format!("ask for 1 to {MAX_PAGE} executions a page and follow next_cursor"),
            ));
        }
        let filter = ListFilter {
            statuses: parse_statuses(q.status.as_deref())?,
            limit: Some(limit),
            workflow: q.workflow.as_deref().map(|w| caller.deployment(w)).transpose()?,
            created_from_ms: q.from_ms,
            created_to_ms: q.to_ms,
            after: match parse_cursor(q.cursor.as_deref())? {
                Some((at, id)) => Some((at, caller.execution(id)?)),
                None => None,
            },
            tenant: Some(caller.tenant.clone()),
        };
        let executions: Vec<Execution> = self
            .store
            .list(&filter)
            .await?
            .into_iter()
            .map(present_execution)
            .collect();
        let next_cursor = (executions.len() == limit as usize)
            .then(|| executions.last().map(|e| format!("{}:{}", e.created_at_ms, e.id)))
            .flatten();
        Ok(ExecutionPage {
            executions,
            next_cursor,
        })
    }

    async fn unfinished(&self, key: &Key) -> Result<Execution> {
        let e = self.execution(key).await?;
        if !e.status.is_unfinished() {
            return Err(Error::new(
                codes::ALREADY_FINISHED,
                format!("execution {} is {}", key.name(), e.status),
                "nothing to do; see its result",
            ));
        }
        Ok(e)
    }

    /// Queues a signal; it wakes the execution if it is suspended.
    pub async fn signal(&self, caller: &Caller, id: &str, name: &str, payload: &Value) -> Result<SignalResponse> {
        caller.require(Role::Operate)?;
        self.tenancy.check_rate(caller, Rate::Signals).await?;
        syntax::SIGNAL.check(name)?;
        let payload = payload.to_string();
        self.tenancy.check_payload(caller, &payload).await?;
        let key = caller.execution(id)?;
        self.unfinished(&key).await?;
        let seq = self
            .store
            .push_inbox(&key, InboxKind::Signal, name, &payload, true)
            .await?;
        self.announce(StoreEvent::Poke(key));
        self.announce(StoreEvent::Work);
        Ok(SignalResponse {
            execution_id: id.to_owned(),
            signal: name.to_owned(),
            seq,
        })
    }

    /// Requests cancellation: pending activities, timers, signal waits and
    /// children are interrupted and the workflow may compensate.
    pub async fn cancel(&self, caller: &Caller, id: &str) -> Result<CancelResponse> {
        caller.require(Role::Operate)?;
        let key = caller.execution(id)?;
        self.unfinished(&key).await?;
        self.request_cancel_of(&key).await?;
        self.tenancy.audit(caller, "cancel", id).await?;
        Ok(CancelResponse {
            execution_id: id.to_owned(),
            cancel: "requested".into(),
        })
    }

    /// Terminates at once: no compensation; the owner is fenced off and the
    /// execution's children get their close policy.
    pub async fn terminate(&self, caller: &Caller, id: &str, reason: Option<&str>) -> Result<TerminateResponse> {
        caller.require(Role::Operate)?;
        let key = caller.execution(id)?;
        self.execution(&key).await?;
        if !self
            .end_terminated(&key, reason.unwrap_or("terminated by an operator"))
            .await?
        {
            return Err(Error::new(
                codes::ALREADY_FINISHED,
                format!("execution {id} has already finished"),
                "nothing to do",
            ));
        }
        self.admit_after(&key).await;
        self.tenancy.audit(caller, "terminate", id).await?;
        Ok(TerminateResponse {
            execution_id: id.to_owned(),
            status: Status::Terminated,
        })
    }

    /// Makes a parked execution runnable again, on version `req.version` of
    /// its deployment when given (the fixed code): replay resumes it where it
    /// stopped; a change that contradicts its journal parks it again with a
    /// non-determinism error.
    pub async fn unpark(&self, caller: &Caller, id: &str, req: UnparkRequest) -> Result<UnparkResponse> {
        caller.require(Role::Operate)?;
        let key = caller.execution(id)?;
        let not_parked = |status: &str| {
            Error::new(
                codes::NOT_PARKED,
                format!("execution {id} is {status}"),
                "only a parked execution can be unparked; see its status with `cairn describe`",
            )
        };
        let exec = self.execution(&key).await?;
        if exec.status != Status::Parked {
            return Err(not_parked(&format!("{}, not parked", exec.status.as_str())));
        }
        let target = match req.version {
            Some(v) => Some(
                self.resolve(&caller.tenant, &format!("{}@{v}", tenancy::name_of(&exec.workflow)))
                    .await?,
            ),
            None => None,
        };
        let swap = target.as_ref().map(|d| (d.component.as_str(), &d.bindings));
        if !self.store.unpark(&key, swap).await? {
            // Someone else acted on it in between.
            return Err(not_parked("no longer parked"));
        }
        self.announce(StoreEvent::Work);
        self.tenancy.audit(caller, "unpark", id).await?;
        Ok(UnparkResponse {
            execution_id: id.to_owned(),
            status: Status::Running,
            component: target.map_or(exec.component, |d| d.component),
        })
    }

    /// Creates or replaces a schedule of a deployment.
    pub async fn create_schedule(&self, caller: &Caller, req: ScheduleRequest) -> Result<Schedule> {
        caller.require(Role::Operate)?;
        let id = caller.schedule(&req.id)?;
        let next = super::next_fire(&req.cron, now_ms())?;
        let input = req.input.to_string();
        self.tenancy.check_payload(caller, &input).await?;
        self.resolve(&caller.tenant, &req.workflow).await?;
        let schedule = Schedule {
            id: id.into_string(),
            cron: req.cron,
            workflow: Key::new(&caller.tenant, &req.workflow).into_string(),
            input,
            next_fire_at_ms: next,
        };
        self.store.put_schedule(&schedule).await?;
        Ok(present_schedule(schedule))
    }

    /// Every schedule of the caller's tenant.
    pub async fn schedules(&self, caller: &Caller) -> Result<Vec<Schedule>> {
        caller.require(Role::Read)?;
        let all = self.store.schedules(Some(&caller.tenant)).await?;
        Ok(all.into_iter().map(present_schedule).collect())
    }

    /// Deletes a schedule.
    pub async fn delete_schedule(&self, caller: &Caller, id: &str) -> Result<()> {
        caller.require(Role::Operate)?;
        if !self.store.delete_schedule(&caller.schedule(id)?).await? {
            return Err(Error::new(
                codes::NOT_FOUND,
                format!("no schedule with id {}", crate::error::echo(id)),
                "list them with `cairn schedule list`",
            ));
        }
        Ok(())
    }

    /// Schema version, live nodes and backlog of the store.
    pub async fn status(&self) -> Result<StoreStatus> {
        self.store.status().await
    }

    /// Applies pending schema migrations; returns the schema version.
    pub async fn migrate(&self) -> Result<i64> {
        self.store.migrate().await
    }

    /// Stores and checks the components of a local run: a workflow and its
    /// activities, with their HTTP grants. Returns the workflow's digest and
    /// the bindings to start it with.
    pub async fn prepare_run(
        &self,
        workflow: &[u8],
        activities: &[Vec<u8>],
        http_allow: std::collections::BTreeMap<String, Vec<String>>,
    ) -> Result<(String, Bindings)> {
        let digest = digest_of(workflow);
        self.engine()?.workflow(&digest, workflow.to_vec(), false).await?;
        let mut bindings = Bindings {
            activities: Vec::new(),
            http_allow,
        };
        for bytes in activities {
            let d = digest_of(bytes);
            self.engine()?.activity(&d, bytes.clone(), false).await?;
            bindings.activities.push(d);
        }
        self.registry(&bindings).await?;
        let default = tenancy::DEFAULT_TENANT;
        for bytes in activities.iter().chain(std::iter::once(&workflow.to_vec())) {
            let d = digest_of(bytes);
            self.store.put_component(&d, bytes).await?;
            self.store.own_component(default, &d, bytes.len() as i64).await?;
        }
        Ok((digest, bindings))
    }
}

/// How an execution stands for a result waiter: read from the store, or
/// the end this node just committed.
struct Ended {
    status: Status,
    output: Option<String>,
    error: Option<String>,
}

impl Ended {
    fn continued_as(&self) -> Option<String> {
        crate::model::continued_as(self.status, self.output.as_deref())
    }
}

impl From<Execution> for Ended {
    fn from(e: Execution) -> Self {
        Ended {
            status: e.status,
            output: e.output,
            error: e.error,
        }
    }
}

impl From<Transition> for Ended {
    fn from(t: Transition) -> Self {
        let (_, output, error) = t.columns();
        Ended {
            status: t.status(),
            output: output.map(str::to_owned),
            error: error.map(str::to_owned),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_bounded() {
        assert_eq!(checked_wait(None).unwrap(), Duration::ZERO);
        assert_eq!(checked_wait(Some(60_000)).unwrap(), MAX_WAIT);
        assert_eq!(checked_wait(Some(60_001)).unwrap_err().code, codes::INVALID_ARGUMENT);
    }

    #[test]
    fn names_ids_statuses_and_cursors_are_checked() {
        let (name, id) = (syntax::DEPLOYMENT, syntax::EXECUTION);
        assert!(name.valid("orders-v2.1") && !name.valid("a b") && !name.valid(""));
        assert!(id.valid("order-7~2@x:y") && !id.valid("a/b") && !id.valid(&"x".repeat(201)));
        assert!(!id.valid(".") && !id.valid("..") && !name.valid("...") && id.valid(".a") && name.valid("v1.2"));
        assert_eq!(name.check("a b").unwrap_err().code, codes::INVALID_ARGUMENT);
        assert_eq!(
            parse_statuses(Some("running,failed")).unwrap(),
            [Status::Running, Status::Failed]
        );
        assert!(parse_statuses(Some("")).unwrap().is_empty(), "empty: every status");
        assert!(
            parse_statuses(Some("running,")).is_err(),
            "as the document's pattern says"
        );
        assert_eq!(parse_statuses(Some("done")).unwrap_err().code, codes::INVALID_ARGUMENT);
        assert_eq!(parse_cursor(Some("12:a:b")).unwrap(), Some((12, "a:b")));
        assert!(parse_cursor(Some("x:a")).is_err() && parse_cursor(Some("nocolon")).is_err());
        assert_eq!(json_of(&Some("{\"a\":1}".into())), Some(serde_json::json!({"a": 1})));
        assert_eq!(json_of(&Some("text".into())), Some(Value::String("text".into())));
    }
}
