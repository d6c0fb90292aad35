//! One conformance suite for the guest SDKs: the same scenarios
//! (`tests/python/_race.py`, `tests/typescript/_race.ts`) built with the
//! Python and the TypeScript SDK give the same outputs and the same journal
//! shapes (entry kinds, in order) on the real host: gather, a signal raced
//! against a durable timer with the loser cancelled, cancellation with
//! compensation, a child, continue-as-new, coded failures, payloads that
//! are not JSON, an uncaught exception parked and resumed on a fixed
//! deployment, `cairn replay` catching the changed code, and a race given
//! up and resumed by replay after kill -9. The chain example prints what
//! the Rust one prints in both languages, with activities in any language.
//! One server and data directory, so each big component compiles once.

use crate::common::*;
use crate::server::{Server, kinds};
use cairn::journal::Record;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One SDK under test.
struct Sdk {
    /// The deployment (and the v1 component's name).
    name: &'static str,
    /// A built component of this language.
    wasm: Built,
}

const SDKS: [Sdk; 2] = [
    Sdk {
        name: "pyrace",
        wasm: python_wasm,
    },
    Sdk {
        name: "tsrace",
        wasm: typescript_wasm,
    },
];

/// The chain example (n = 10) with `activities`, through `cairn run`.
fn chain(data: &Path, workflow: PathBuf, activities: PathBuf, n: u32) -> String {
    let input = json!({ "n": n }).to_string();
    let out = run(data, &run_args(&workflow, &activities, &input, &[]));
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).trim().to_owned()
}

/// Deploys `component` as a version of `name` with the Rust activities.
fn deploy(server: &Server, data: &Path, name: &str, component: PathBuf) {
    let inc = wasm("increment");
    server.json(
        data,
        &[
            "deploy",
            name,
            component.to_str().unwrap(),
            "--activity",
            inc.to_str().unwrap(),
        ],
    );
}

/// What the code did, in order: the kinds of the journal's commands and
/// lifecycle entries. Events (an activity's result, a timer firing) are
/// left out: they are recorded when they arrive, which is timing, not code.
fn shape(history: &Value) -> Vec<String> {
    history
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            let kind = e["kind"].as_str().unwrap();
            let record = Record::decode(kind, &e["payload"].to_string()).unwrap();
            (!matches!(record, Record::Event { .. })).then(|| kind.to_owned())
        })
        .collect()
}

/// Runs one mode to its end: (id, exit code of `cairn result`, result, journal shape).
fn scenario(server: &Server, data: &Path, name: &str, input: Value) -> (String, Option<i32>, Value, Vec<String>) {
    let id = server.start_execution(data, name, &input.to_string());
    let (code, r) = server.wait_result(data, &id);
    let k = shape(&server.json(data, &["history", &id]));
    (id, code, r, k)
}

fn message(r: &Value) -> &str {
    r["error"]["message"].as_str().unwrap_or_default()
}

/// What a scenario's result must hold.
enum Want {
    /// This output (exit 0).
    Output(Value),
    /// A failure whose message contains this (exit 1).
    Message(&'static str),
    /// A park whose error contains this code (exit 3): a budget stopped it.
    Stopped(&'static str),
}

/// The modes every language answers alike, as deployment `me`.
fn common_modes(me: &str) -> Vec<(&'static str, Value, Want)> {
    vec![
        ("gather", json!({ "mode": "gather" }), Want::Output(json!([1, 2, 3]))),
        (
            "child",
            json!({ "mode": "child", "self": me }),
            Want::Output(json!({ "child": [1, 2, 3] })),
        ),
        (
            "continue",
            json!({ "mode": "continue", "self": me, "left": 2 }),
            Want::Output(json!("done")),
        ),
        ("fail", json!({ "mode": "fail" }), Want::Message("bad-order: order 7")),
        // A loop and a memory hog are stopped by the same budgets everywhere.
        ("spin", json!({ "mode": "spin" }), Want::Stopped("CAIRN-E011")),
        ("eat", json!({ "mode": "eat" }), Want::Stopped("CAIRN-E012")),
    ]
}

/// Checks a result against what it must hold.
fn check(name: &str, mode: &str, code: Option<i32>, r: &Value, want: &Want) {
    match want {
        Want::Output(v) => assert_eq!((code, &r["output"]), (Some(0), v), "{name} {mode}: {r}"),
        Want::Message(m) => {
            assert_eq!(code, Some(1), "{name} {mode}: {r}");
            assert!(message(r).contains(m), "{name} {mode}: {r}");
        }
        Want::Stopped(c) => {
            assert_eq!(code, Some(3), "{name} {mode}: {r}");
            assert!(r["error"].to_string().contains(c), "{name} {mode}: {r}");
        }
    }
}

/// The signal raced against a short timer: the timer wins, the cancelled
/// wait left the signal buffered, a later wait reads it. Returns the id.
fn timer_wins(server: &Server, d: &Path, name: &str) -> String {
    let id = server.start_execution(d, name, r#"{"mode": "signal", "timer_s": 0.1}"#);
    // Once the losing wait is cancelled, a signal can only reach the later wait.
    wait_for(60, "the timer to win", || {
        let h = server.json(d, &["history", &id]);
        kinds(&h).iter().any(|k| k == "signal.cancelled").then_some(())
    });
    let out = server.cli(d, &["signal", &id, "approve", "--payload", "7"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (code, r) = server.wait_result(d, &id);
    assert_eq!(
        (code, &r["output"]),
        (Some(0), &json!({ "first": "timer", "later": 7 })),
        "{name} {r}"
    );
    let k = kinds(&server.json(d, &["history", &id]));
    for kind in ["timer.fired", "handle.cancel", "signal.cancelled", "signal.received"] {
        assert!(k.iter().any(|x| x == kind), "{name}: {kind} missing from {k:?}");
    }
    id
}

/// Cancelled during an hour's sleep, the workflow compensates. Returns the id.
fn compensates(server: &Server, d: &Path, name: &str) -> String {
    let id = server.start_execution(d, name, r#"{"mode": "compensate"}"#);
    wait_for(60, "the hour's sleep", || {
        (server.status(d, &id).as_deref() == Some("sleeping")).then_some(())
    });
    assert!(server.cli(d, &["cancel", &id]).status.success());
    let (code, r) = server.wait_result(d, &id);
    assert_eq!(
        (code, &r["output"]),
        (Some(0), &json!({ "compensated": 100 })),
        "{name} {r}"
    );
    id
}

const LIMITS: [&str; 4] = ["--cpu-budget-ms", "1500", "--memory-limit-mb", "128"];

/// The Rust build of the scenarios (`tests/guests/rsrace`) gives the
/// outputs the Python and TypeScript builds give, for every mode Rust can
/// express.
#[test]
fn rust_answers_as_the_sdks_do() {
    let data = data_dir();
    let d = data.path();
    let server = Server::start(d, &LIMITS);
    deploy(&server, d, "rsrace", wasm("rsrace"));
    for (mode, input, want) in common_modes("rsrace") {
        let (_, code, r, _) = scenario(&server, d, "rsrace", input);
        check("rsrace", mode, code, &r, &want);
    }
    timer_wins(&server, d, "rsrace");
    compensates(&server, d, "rsrace");
}

#[test]
fn python_and_typescript_sdks_behave_alike() {
    let data = data_dir();
    let d = data.path();
    // The chain example, as the Rust one: Rust activities, then the language's own.
    for (lang, built) in &LANGUAGES[1..] {
        assert_eq!(chain(d, built("chain"), wasm("increment"), 10), "10", "{lang}");
        assert_eq!(chain(d, built("chain"), built("increment"), 4), "4", "{lang}");
    }

    let mut server = Server::start(d, &LIMITS);
    // Journal shapes per mode, per SDK.
    let mut shapes: BTreeMap<&str, Vec<(&str, Vec<String>)>> = BTreeMap::new();
    let mut survivors = Vec::new();
    // Executions each SDK's version 1 ran to the end, by SDK; the first is a `gather`.
    let mut ran: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for sdk in &SDKS {
        deploy(&server, d, sdk.name, (sdk.wasm)(sdk.name));
        let mut expect = |mode: &'static str, input: Value, want: Want| {
            let (id, code, r, k) = scenario(&server, d, sdk.name, input);
            check(sdk.name, mode, code, &r, &want);
            if !matches!(want, Want::Stopped(_)) {
                shapes.entry(mode).or_default().push((sdk.name, k));
                ran.entry(sdk.name).or_default().push(id);
            }
        };
        for (mode, input, want) in common_modes(sdk.name) {
            expect(mode, input, want);
        }
        // SDK misuse and payloads that are not JSON are coded failures, not traps.
        expect(
            "deadlock",
            json!({ "mode": "deadlock" }),
            Want::Message("workflow-deadlock"),
        );
        expect("nan", json!({ "mode": "nan" }), Want::Message("invalid-payload"));
        // A forgotten await is not a silent `{}`: the same coded failure in both.
        expect(
            "noawait",
            json!({ "mode": "noawait" }),
            Want::Message("forgotten await"),
        );
        if sdk.name == "tsrace" {
            // No fetch() and no event-loop timer in a workflow: coded, with what to use.
            expect("fetch", json!({ "mode": "fetch" }), Want::Message("call an activity"));
            expect("timeout", json!({ "mode": "timeout" }), Want::Message("ctx.sleep"));
        }
        expect(
            "raw-input",
            json!({ "mode": "raw-input" }),
            Want::Output(json!({ "code": "invalid-input" })),
        );
        // A call never awaited: started when made, ended with the run (its
        // result if it finished first, else `abandoned`), in both alike.
        let (id, code, r, k) = scenario(&server, d, sdk.name, json!({ "mode": "unawaited" }));
        check(sdk.name, "unawaited", code, &r, &Want::Output(json!("done")));
        shapes.entry("unawaited").or_default().push((sdk.name, k));
        let history = server.json(d, &["history", &id]);
        let done: Vec<&Value> = history
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "activity.done")
            .collect();
        assert_eq!(done.len(), 1, "{}: {history}", sdk.name);
        let result = done[0]["payload"]["data"]["result"].to_string();
        assert!(
            result.contains("abandoned") || result.contains('8'),
            "{}: {result}",
            sdk.name
        );
        // A set of strings: one activity per word, in the set's own order.
        let (id, code, r, k) = scenario(&server, d, sdk.name, json!({ "mode": "set" }));
        let mut order: Vec<String> = serde_json::from_value(r["output"].clone()).unwrap_or_default();
        order.sort();
        assert_eq!((code, order), (Some(0), words()), "{}: {r}", sdk.name);
        shapes.entry("set").or_default().push((sdk.name, k));
        ran.entry(sdk.name).or_default().push(id);
        for (mode, id) in [
            ("signal", timer_wins(&server, d, sdk.name)),
            ("compensate", compensates(&server, d, sdk.name)),
        ] {
            let k = shape(&server.json(d, &["history", &id]));
            assert!(k.iter().any(|x| x == "await.any"), "{}: {k:?}", sdk.name);
            shapes.entry(mode).or_default().push((sdk.name, k));
        }

        // An uncaught exception parks (exit 3) with the message and the
        // traceback; the fixed code, deployed as version 2, resumes it by replay.
        let (crashed, code, r, _) = scenario(&server, d, sdk.name, json!({ "mode": "crash" }));
        assert_eq!((code, r["status"].as_str()), (Some(3), Some("parked")), "{r}");
        let described = server.json(d, &["describe", &crashed]);
        let error = &described["error"];
        assert_eq!(error["code"], "CAIRN-E025", "{error}");
        assert!(
            error["details"].to_string().contains("scenarios"),
            "no traceback: {error}"
        );
        let v2 = format!("{}_v2", sdk.name);
        deploy(&server, d, sdk.name, (sdk.wasm)(&v2));
        let out = server.cli(d, &["unpark", &crashed, "--version", "2"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let (code, r) = server.wait_result(d, &crashed);
        assert_eq!((code, &r["output"]), (Some(0), &json!({ "fixed": 2 })), "{r}");
        let out = server.cli(d, &["unpark", &crashed]);
        assert!(stderr(&out).contains("CAIRN-E026"), "{}", stderr(&out));

        // A race given up on a ten-minute timer survives the node's kill -9 below.
        let id = server.start_execution(d, sdk.name, r#"{"mode": "signal", "timer_s": 600}"#);
        wait_for(60, "the race to give its instance up", || {
            (server.status(d, &id).as_deref() == Some("sleeping")).then_some(())
        });
        survivors.push(id);
    }

    // The same scenario leaves the same journal shape in both languages.
    for (mode, by_sdk) in &shapes {
        let (first, k) = &by_sdk[0];
        for (other, k2) in &by_sdk[1..] {
            assert_eq!(k, k2, "{mode}: {first} and {other} journal differently");
        }
    }

    // kill -9, a new node: the signal wakes each race and replay restores both handles.
    server.kill();
    let server = Server::start(d, &LIMITS);
    for id in &survivors {
        let out = server.cli(d, &["signal", id, "approve", "--payload", r#"{"by": "ann"}"#]);
        assert!(out.status.success(), "{}", stderr(&out));
        let (code, r) = server.wait_result(d, id);
        assert_eq!(
            (code, &r["output"]),
            (Some(0), &json!({ "first": "signal", "payload": { "by": "ann" } })),
            "{r}"
        );
    }
    drop(server);

    for sdk in &SDKS {
        // The journals replay against the code that wrote them ...
        let ids = &ran[sdk.name];
        let v1 = (sdk.wasm)(sdk.name);
        let mut args = vec!["replay", "--component", v1.to_str().unwrap()];
        args.extend(ids.iter().map(String::as_str));
        let out = run(d, &args);
        assert!(out.status.success(), "{}: {}{}", sdk.name, stdout(&out), stderr(&out));
        // ... and the changed code (a fourth activity in `gather`) is caught
        // with the seq and the recorded and actual calls.
        let v2 = (sdk.wasm)(&format!("{}_v2", sdk.name));
        let out = run(d, &["replay", "--component", v2.to_str().unwrap(), &ids[0]]);
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert_eq!(out.status.code(), Some(1), "{}: {text}", sdk.name);
        assert!(
            text.contains("CAIRN-E006") && text.contains("seq"),
            "{}: {text}",
            sdk.name
        );
    }
}

/// The words the `set` mode iterates, sorted.
fn words() -> Vec<String> {
    ["apple", "date", "fig", "kiwi", "lime", "pear", "plum", "yuzu"]
        .map(String::from)
        .to_vec()
}

/// Builds `tests/python/NAME.py` afresh into `out` with the SDK's build
/// script; its output and stderr.
fn python_build(app: &Path, out: &Path) -> std::process::Output {
    std::process::Command::new("python3")
        .arg(workspace().join("guest-sdk/python/build.py"))
        .arg(app)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap()
}

/// Python's string hash seed is the same in every build: a journal that
/// iterated a set of strings replays on a fresh build of the same code
/// (a seed drawn per build changed the order, and replay failed with
/// CAIRN-E006), and the fresh build iterates the set alike.
#[test]
fn python_rebuild_iterates_sets_alike() {
    let data = data_dir();
    let d = data.path();
    let built = python_wasm("pyrace");
    let input = json!({ "mode": "set" }).to_string();
    let first = run(d, &run_args(&built, &wasm("increment"), &input, &[]));
    assert!(first.status.success(), "{}", stderr(&first));
    let id = stderr(&first)
        .split_whitespace()
        .nth(1)
        .expect("an execution id")
        .to_owned();
    let rebuilt = d.join("pyrace.wasm");
    let out = python_build(&workspace().join("tests/python/pyrace.py"), &rebuilt);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(d, &["replay", "--component", rebuilt.to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let second = run(d, &run_args(&rebuilt, &wasm("increment"), &input, &[]));
    assert_eq!(stdout(&second), stdout(&first), "{}", stderr(&second));
}

/// A Python workflow imports the standard library inside its function
/// (`datetime.strptime`, the idna codec, statistics, decimal, csv,
/// zoneinfo with its data, urllib) and each works; a module that exists
/// nowhere fails the build, naming it and the line, not the run.
#[test]
fn python_standard_library_is_bundled() {
    let data = data_dir();
    let d = data.path();
    let out = run(d, &["run", python_wasm("pystdlib").to_str().unwrap(), "--input", "{}"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let got: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let want = json!({
        "strptime": "2026-12-04T10:30:00",
        "idna": "xn--bcher-kva.example",
        "mean": 2.5,
        "decimal": "0.3",
        "csv": [["a", "b"], ["1", "2"]],
        "paris": "2026-07-01T14:00:00+02:00",
        "url": "q=a+b",
        "quote": "/a%20b",
    });
    assert_eq!(got, want);

    let app = d.join("missing.py");
    std::fs::write(
        &app,
        "from cairn import workflow\n\n\n@workflow\nasync def missing(input):\n    import nosuchmodule\n    return 1\n",
    )
    .unwrap();
    let out = python_build(&app, &d.join("missing.wasm"));
    let text = stderr(&out);
    assert!(!out.status.success(), "built: {text}");
    assert!(text.contains("missing.py:6: `import nosuchmodule`"), "{text}");
}

/// `cairn bench --language` measures each language's chain (every chain it
/// runs is checked to return n, every replay to pass): a Python component,
/// slow to instantiate, gets spare instances made ahead of time and the
/// executions started on them end as the others do; Rust and TypeScript
/// components instantiate fast enough not to need them.
#[test]
fn bench_measures_each_language_and_spares_the_slow_ones() {
    let data = data_dir();
    let d = data.path();
    let increment = wasm("increment");
    for (lang, built) in LANGUAGES {
        let chain = built("chain");
        let out = run(
            d,
            &[
                "bench",
                "--workflow",
                chain.to_str().unwrap(),
                "--activity",
                increment.to_str().unwrap(),
                "--runs",
                "5",
                "--total",
                "40",
                "--replay-entries",
                "30",
            ],
        );
        let text = stdout(&out);
        assert!(out.status.success(), "{lang}: {text}{}", stderr(&out));
        for measure in ["chain(10) latency", "memory per live instance", "instantiate (cached)"] {
            assert!(text.contains(measure), "{lang}: no {measure}: {text}");
        }
        let spared = text.contains("instance from a spare        p50");
        assert_eq!(spared, lang == "python", "{lang}: {text}");
    }
}

/// The TypeScript SDK's declarations (`build.mjs --types`, written by
/// `./x build`) are enough to type-check a workflow and an activity
/// strictly, and they catch a misuse (a number where a duration is due).
#[test]
fn typescript_declarations_type_check_a_workflow() {
    typescript_wasm("chain");
    let root = workspace();
    let types = root.join("target/typescript/types");
    let tsc = root.join("target/toolchains/typescript/node_modules/.bin/tsc");
    let dir = data_dir();
    let check = |body: &str| {
        std::fs::write(dir.path().join("app.ts"), body).unwrap();
        let config = json!({
            "compilerOptions": {
                "strict": true, "noEmit": true, "target": "es2022", "module": "esnext",
                "moduleResolution": "bundler", "allowImportingTsExtensions": true,
                "lib": ["es2022", "dom"], "types": [],
                "paths": {
                    "@cairn/sdk": [types.join("index.d.ts")],
                    "@cairn/sdk/activity": [types.join("activity.d.ts")],
                },
            },
            "files": [dir.path().join("app.ts"), types.join("host.d.ts")],
        });
        std::fs::write(dir.path().join("tsconfig.json"), config.to_string()).unwrap();
        let out = std::process::Command::new(&tsc)
            .args([
                "-p",
                dir.path().join("tsconfig.json").to_str().unwrap(),
                "--pretty",
                "false",
            ])
            .output()
            .unwrap();
        (out.status.success(), stdout(&out))
    };
    let good = r#"
        import { ctx, workflow, Failure } from "@cairn/sdk";
        import { activity, idempotencyKey } from "@cairn/sdk/activity";
        activity("double", (n: number) => n * 2 + idempotencyKey().length * 0);
        export default workflow(async (input: { n: number }) => {
            const [a, b] = await Promise.all([
                ctx.activity<number>("double", input.n),
                ctx.activity<number>("double", input.n + 1),
            ]);
            await ctx.sleep("5m");
            if (a > b) throw new Failure("order", "out of order");
            return a + b;
        });
    "#;
    let (ok, text) = check(good);
    assert!(ok, "{text}");
    let (ok, text) = check(&good.replace(r#"ctx.sleep("5m")"#, "ctx.sleep({ minutes: 5 })"));
    assert!(!ok && text.contains("error TS"), "a wrong duration type-checks: {text}");
}

/// docs/sdk-reference.md is what `guest-sdk/reference.py` makes of the
/// SDKs' doc comments today.
#[test]
fn sdk_reference_is_current() {
    typescript_wasm("chain");
    let out = std::process::Command::new("python3")
        .arg(workspace().join("guest-sdk/reference.py"))
        .arg("--check")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}
