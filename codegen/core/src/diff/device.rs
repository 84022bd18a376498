//! The manifest around the schemas: the device's name and group, its commands and triggers
//! (matched by name, renames guessed from equal schemas), timeouts and retries.

use serde_json::{json, Value};

use lua_device_core::dedup::DedupConfig;
use lua_device_core::ledger::longest_retry_horizon_ms;
use lua_device_core::Retry as CoreRetry;

use crate::model::{Command, Device, Retry, Trigger};

use super::shape::{self, At};
use super::{Effect, Flow, Kind, Party, Raw, Severity};

pub(super) fn compare(old: &Device, new: &Device) -> Vec<Raw> {
    let mut out = Vec::new();
    identity(old, new, &mut out);
    commands(old, new, &mut out);
    triggers(old, new, &mut out);
    out
}

#[allow(clippy::too_many_arguments)]
fn raw(
    severity: Severity,
    breaks: Vec<Party>,
    kind: Kind,
    location: String,
    old: Value,
    new: Value,
    message: String,
    ptrs: (Option<String>, Option<String>),
) -> Raw {
    Raw {
        severity,
        breaks,
        kind,
        location,
        old,
        new,
        message,
        hint: None,
        old_ptr: ptrs.0,
        new_ptr: ptrs.1,
    }
}

fn both(ptr: &str) -> (Option<String>, Option<String>) {
    (Some(ptr.to_string()), Some(ptr.to_string()))
}

fn info(
    kind: Kind,
    location: String,
    old: Value,
    new: Value,
    message: String,
    ptrs: (Option<String>, Option<String>),
) -> Raw {
    raw(
        Severity::Info,
        Vec::new(),
        kind,
        location,
        old,
        new,
        message,
        ptrs,
    )
}

fn identity(old: &Device, new: &Device, out: &mut Vec<Raw>) {
    if old.name != new.name {
        let message = format!(
            "device renamed from `{}` to `{}`: every tool name changes (device__{}__* becomes device__{}__*) and so do the device's topics",
            old.name, new.name, old.name, new.name
        );
        out.push(raw(
            Severity::Breaking,
            vec![Party::Agents, Party::Devices],
            Kind::DeviceRenamed,
            "name".into(),
            json!(old.name),
            json!(new.name),
            message,
            both("/name"),
        ));
    }
    if old.group != new.group {
        let (severity, breaks, message) = match (&old.group, &new.group) {
            (None, Some(g)) => (
                Severity::Compatible,
                vec![Party::Devices],
                format!("group `{g}` added: agents that look the device up by group do not find devices still on the old manifest"),
            ),
            (Some(g), None) => (
                Severity::Breaking,
                vec![Party::Agents],
                format!("group `{g}` removed: agents that look the device up by its group no longer find it"),
            ),
            (Some(o), Some(n)) => (
                Severity::Breaking,
                vec![Party::Agents, Party::Devices],
                format!("group changed from `{o}` to `{n}`: agents that look the device up by group no longer find it"),
            ),
            (None, None) => unreachable!("the groups differ"),
        };
        out.push(raw(
            severity,
            breaks,
            Kind::GroupChanged,
            "group".into(),
            json!(old.group),
            json!(new.group),
            message,
            both("/group"),
        ));
    }
    if old.description != new.description {
        out.push(info(
            Kind::DescriptionChanged,
            "description".into(),
            json!(old.description),
            json!(new.description),
            "the device's description changed".into(),
            both("/description"),
        ));
    }
}

/// The items (with their index) only OLD has, and those only NEW has, by name.
#[allow(clippy::type_complexity)]
fn removed_and_added<'a, T>(
    old: &'a [T],
    new: &'a [T],
    name: impl Fn(&T) -> &String,
) -> (Vec<(usize, &'a T)>, Vec<(usize, &'a T)>) {
    let only = |these: &'a [T], those: &'a [T]| -> Vec<(usize, &'a T)> {
        these
            .iter()
            .enumerate()
            .filter(|(_, x)| !those.iter().any(|y| name(y) == name(x)))
            .collect()
    };
    (only(old, new), only(new, old))
}

fn commands(old: &Device, new: &Device, out: &mut Vec<Raw>) {
    let (removed, added) = removed_and_added(&old.commands, &new.commands, |c| &c.name);
    let renames = pair_renames(&removed, &added, |o, n| {
        shape::same((&old.types, o.input), (&new.types, n.input))
            && shape::same((&old.types, o.output), (&new.types, n.output))
            && o.output.is_some() == n.output.is_some()
    });
    for (i, c) in &removed {
        let mut r = raw(
            Severity::Breaking,
            vec![Party::Agents],
            Kind::CommandRemoved,
            format!("commands/{}", c.name),
            json!(old.tool_name(c)),
            Value::Null,
            format!(
                "command `{}` removed: agents calling tool {} get an unknown command",
                c.name,
                old.tool_name(c)
            ),
            (Some(format!("/commands/{i}")), None),
        );
        if let Some((_, n)) = renames.iter().find(|(o, _)| o == &c.name) {
            r.hint = Some(format!(
                "`{n}` was added with the same schemas: renamed to `{n}`? Agents must call \
                 device__{}__{n} instead",
                new.name
            ));
        }
        out.push(r);
    }
    for (i, c) in new.commands.iter().enumerate() {
        let Some((j, o)) = old
            .commands
            .iter()
            .enumerate()
            .find(|(_, o)| o.name == c.name)
        else {
            continue;
        };
        command(old, new, (j, o), (i, c), out);
    }
    for (i, c) in &added {
        let mut r = raw(
            Severity::Compatible,
            vec![Party::Devices],
            Kind::CommandAdded,
            format!("commands/{}", c.name),
            Value::Null,
            json!(new.tool_name(c)),
            format!(
                "command `{}` added (tool {}): a device still on the old manifest answers it as an unknown command",
                c.name,
                new.tool_name(c)
            ),
            (None, Some(format!("/commands/{i}"))),
        );
        if let Some((o, _)) = renames.iter().find(|(_, n)| n == &c.name) {
            r.hint = Some(format!(
                "`{o}` was removed with the same schemas: renamed from `{o}`?"
            ));
        }
        out.push(r);
    }
}

/// Removed and added items whose schemas are equal, paired when the match is unambiguous.
fn pair_renames<T: Named>(
    removed: &[(usize, &T)],
    added: &[(usize, &T)],
    same: impl Fn(&T, &T) -> bool,
) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for (_, o) in removed {
        let candidates: Vec<&T> = added
            .iter()
            .map(|(_, n)| *n)
            .filter(|n| same(o, n))
            .collect();
        if let [n] = candidates.as_slice() {
            let rivals = removed.iter().filter(|(_, r)| same(r, n)).count();
            if rivals == 1 {
                pairs.push((o.name().to_string(), n.name().to_string()));
            }
        }
    }
    pairs
}

trait Named {
    fn name(&self) -> &str;
}

impl Named for Command {
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for Trigger {
    fn name(&self) -> &str {
        &self.name
    }
}

fn command(
    old: &Device,
    new: &Device,
    (j, o): (usize, &Command),
    (i, c): (usize, &Command),
    out: &mut Vec<Raw>,
) {
    let location = format!("commands/{}", c.name);
    let ptr = |i: usize, key: &str| format!("/commands/{i}/{key}");
    if o.description != c.description {
        out.push(info(
            Kind::DescriptionChanged,
            format!("{location}/description"),
            json!(o.description),
            json!(c.description),
            format!(
                "the description of tool {} changed (agents read it to decide when to call)",
                new.tool_name(c)
            ),
            (Some(ptr(j, "description")), Some(ptr(i, "description"))),
        ));
    }
    let at = |key: &str| At {
        location: format!("{location}/{key}"),
        old: ptr(j, key),
        new: ptr(i, key),
    };
    out.extend(shape::compare(
        Flow::ToDevice,
        at("inputSchema"),
        (&old.types, o.input),
        (&new.types, c.input),
    ));
    match (o.output, c.output) {
        (None, Some(_)) => {
            let (severity, breaks) = Effect::Narrowed.classify(Flow::ToAgent);
            out.push(raw(
                severity,
                breaks,
                Kind::OutputAdded,
                format!("{location}/outputSchema"),
                Value::Null,
                Value::Null,
                "the command returns data now: agents built for the new manifest expect data a device still on the old one does not send".into(),
                (Some(ptr(j, "outputSchema")), Some(ptr(i, "outputSchema"))),
            ));
        }
        (Some(_), None) => {
            let (severity, breaks) = Effect::Widened.classify(Flow::ToAgent);
            out.push(raw(
                severity,
                breaks,
                Kind::OutputRemoved,
                format!("{location}/outputSchema"),
                Value::Null,
                Value::Null,
                "the command returns no data now: agents that read its result get none".into(),
                (Some(ptr(j, "outputSchema")), Some(ptr(i, "outputSchema"))),
            ));
        }
        (Some(_), Some(_)) => out.extend(shape::compare(
            Flow::ToAgent,
            at("outputSchema"),
            (&old.types, o.output),
            (&new.types, c.output),
        )),
        (None, None) => {}
    }
    timing(old, (j, o), (i, c), out);
}

/// How long devices keep the ids of answered commands: the longest retry horizon of their
/// commands, at least the cache's time to live (PROTOCOL.md's idempotency rule).
fn dedup_window_ms(device: &Device) -> u64 {
    let commands: Vec<(u64, Option<CoreRetry>)> = device
        .commands
        .iter()
        .map(|c| (c.timeout_ms.into(), c.retry.map(core_retry)))
        .collect();
    longest_retry_horizon_ms(&commands, DedupConfig::default().ttl_ms)
}

fn core_retry(r: Retry) -> CoreRetry {
    CoreRetry {
        max_attempts: r.max_attempts,
        backoff_ms: r.backoff_ms.into(),
    }
}

fn horizon_ms(c: &Command) -> u64 {
    lua_device_core::ledger::retry_horizon_ms(c.timeout_ms.into(), c.retry.map(core_retry))
}

fn timing(old: &Device, (j, o): (usize, &Command), (i, c): (usize, &Command), out: &mut Vec<Raw>) {
    let location = format!("commands/{}", c.name);
    let ptr = |i: usize, key: &str| format!("/commands/{i}/{key}");
    if o.timeout_ms != c.timeout_ms {
        let (breaks, message) = if c.timeout_ms < o.timeout_ms {
            (
                vec![Party::Devices],
                format!(
                    "timeoutMs lowered from {} to {}: the agent gives up on a call after {} ms; a device still on the old manifest may take up to {} ms",
                    o.timeout_ms, c.timeout_ms, c.timeout_ms, o.timeout_ms
                ),
            )
        } else {
            (
                Vec::new(),
                format!(
                    "timeoutMs raised from {} to {}: a call may take up to {} ms before the agent gives up",
                    o.timeout_ms, c.timeout_ms, c.timeout_ms
                ),
            )
        };
        out.push(raw(
            Severity::Compatible,
            breaks,
            Kind::TimeoutChanged,
            format!("{location}/timeoutMs"),
            json!(o.timeout_ms),
            json!(c.timeout_ms),
            message,
            (Some(ptr(j, "timeoutMs")), Some(ptr(i, "timeoutMs"))),
        ));
    }
    if o.retry != c.retry {
        let show = |r: Option<Retry>| match r {
            Some(r) => format!("{} attempts {} ms apart", r.max_attempts, r.backoff_ms),
            None => "no retry".to_string(),
        };
        let mut message = format!("retry changed from {} to {}", show(o.retry), show(c.retry));
        let window = dedup_window_ms(old);
        let horizon = horizon_ms(c);
        let breaks = if horizon > window {
            message.push_str(&format!(
                ": an agent may resend a command up to {horizon} ms after sending it, and a device still on the old manifest remembers command ids for {window} ms, so it may run a late resend twice"
            ));
            vec![Party::Devices]
        } else {
            message.push_str(": agents resend a timed-out command (same id) on this schedule; devices answer resends from their cache");
            Vec::new()
        };
        out.push(raw(
            Severity::Compatible,
            breaks,
            Kind::RetryChanged,
            format!("{location}/retry"),
            json!(o.retry),
            json!(c.retry),
            message,
            (Some(ptr(j, "retry")), Some(ptr(i, "retry"))),
        ));
    }
}

fn triggers(old: &Device, new: &Device, out: &mut Vec<Raw>) {
    let (removed, added) = removed_and_added(&old.triggers, &new.triggers, |t| &t.name);
    let renames = pair_renames(&removed, &added, |o, n| {
        shape::same((&old.types, o.payload), (&new.types, n.payload))
    });
    for (i, t) in &removed {
        let mut r = raw(
            Severity::Breaking,
            vec![Party::Agents],
            Kind::TriggerRemoved,
            format!("triggers/{}", t.name),
            json!(t.name),
            Value::Null,
            format!(
                "trigger `{}` removed: agents' handlers for it never run again",
                t.name
            ),
            (Some(format!("/triggers/{i}")), None),
        );
        if let Some((_, n)) = renames.iter().find(|(o, _)| o == &t.name) {
            r.hint = Some(format!("`{n}` was added with the same payload: renamed to `{n}`? Agents must handle `{n}` instead"));
        }
        out.push(r);
    }
    for (i, t) in new.triggers.iter().enumerate() {
        let Some((j, o)) = old
            .triggers
            .iter()
            .enumerate()
            .find(|(_, o)| o.name == t.name)
        else {
            continue;
        };
        let location = format!("triggers/{}", t.name);
        if o.description != t.description {
            out.push(info(
                Kind::DescriptionChanged,
                format!("{location}/description"),
                json!(o.description),
                json!(t.description),
                format!("the description of trigger `{}` changed", t.name),
                (
                    Some(format!("/triggers/{j}/description")),
                    Some(format!("/triggers/{i}/description")),
                ),
            ));
        }
        let at = At {
            location: format!("{location}/payloadSchema"),
            old: format!("/triggers/{j}/payloadSchema"),
            new: format!("/triggers/{i}/payloadSchema"),
        };
        out.extend(shape::compare(
            Flow::ToAgent,
            at,
            (&old.types, o.payload),
            (&new.types, t.payload),
        ));
    }
    for (i, t) in &added {
        let mut r = raw(
            Severity::Compatible,
            Vec::new(),
            Kind::TriggerAdded,
            format!("triggers/{}", t.name),
            Value::Null,
            json!(t.name),
            format!(
                "trigger `{}` added: agents built for the old manifest have no handler for it",
                t.name
            ),
            (None, Some(format!("/triggers/{i}"))),
        );
        if let Some((o, _)) = renames.iter().find(|(_, n)| n == &t.name) {
            r.hint = Some(format!(
                "`{o}` was removed with the same payload: renamed from `{o}`?"
            ));
        }
        out.push(r);
    }
}
