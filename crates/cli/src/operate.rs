//! The operator's commands over the ledger: `sluice freeze` / `unfreeze`, `sluice history` of an
//! alias, and `sluice rollback` of a finished deployment (a deployment of its own). Each records
//! who asked (STS GetCallerIdentity) and why.

use crate::deployments::Context;
use crate::error::CliError;
use serde_json::{Value, json};
use sluice_aws::clock::now;
use sluice_aws::dynamodb::DynamoLedger;
use sluice_aws::lambda::LambdaFunctions;
use sluice_aws::watches::deliver;
use sluice_aws::{FunctionStore, Ledger, Watches};
use sluice_core::deployment::{Undo, UndoAsked, undo_point};
use sluice_core::duration::parse_seconds;
use sluice_core::ledger::{Command, CommandKind};
use sluice_core::names::Role;
use sluice_core::{AliasName, Freeze, FreezeScope, FunctionRef, Timestamp, Version};

/// Who is calling, for the record.
pub async fn identity() -> Result<String, CliError> {
    sluice_aws::sts::caller_identity()
        .await
        .map_err(CliError::aws(
            "could not tell who is calling (sts:GetCallerIdentity), which sluice records",
        ))
}

fn ledger(ctx: &Context) -> Result<&DynamoLedger, CliError> {
    ctx.ledger.as_ref().ok_or_else(|| {
        CliError::refused(
            "no ledger: pass --stack NAME (sluice's stack), or --ledger-table NAME / \
             SLUICE_LEDGER_TABLE (its LedgerTableName output)",
        )
    })
}

fn function_ref(text: &str, flag: &str) -> Result<FunctionRef, CliError> {
    FunctionRef::parse(text, Role::Target)
        .map_err(|e| CliError::refused(format!("{flag} is refused: {}", e.0)))
}

/// The function's unqualified ARN, as Lambda names it.
async fn function_arn(
    lambda: &LambdaFunctions,
    function: &FunctionRef,
) -> Result<String, CliError> {
    lambda
        .function_arn(function)
        .await
        .map_err(CliError::aws(format!("could not read function {function}")))?
        .ok_or_else(|| CliError::refused(format!("there is no function {function}")))
}

/// `--until`: an RFC 3339 time, or a duration from now ("2h").
pub fn until(text: &str, now: Timestamp) -> Result<Timestamp, CliError> {
    if let Ok(t) = Timestamp::parse(text) {
        if t <= now {
            return Err(CliError::refused(format!(
                "--until {text} is in the past (it is {now})"
            )));
        }
        return Ok(t);
    }
    let seconds = parse_seconds(text).map_err(|e| {
        CliError::refused(format!(
            "--until is refused: {text} is neither a time (2026-12-24T00:00:00Z) nor a duration \
             (8h): {}",
            e.0
        ))
    })?;
    Ok(Timestamp::from_unix_millis(
        now.unix_millis() + (seconds as i64) * 1000,
    ))
}

async fn scopes(
    lambda: &LambdaFunctions,
    functions: &[String],
) -> Result<Vec<(FreezeScope, Option<String>)>, CliError> {
    if functions.is_empty() {
        return Ok(vec![(FreezeScope::All, None)]);
    }
    let mut out = Vec::new();
    for f in functions {
        let arn = function_arn(lambda, &function_ref(f, "--function")?).await?;
        out.push((FreezeScope::Function(arn), Some(f.clone())));
    }
    Ok(out)
}

pub async fn freeze(
    ctx: &Context,
    lambda: &LambdaFunctions,
    functions: &[String],
    reason: &str,
    until_text: Option<&str>,
) -> Result<String, CliError> {
    let ledger = ledger(ctx)?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(CliError::refused(
            "--reason is empty: say why deployments stop",
        ));
    }
    let at = now();
    let until = until_text.map(|u| until(u, at)).transpose()?;
    let by = identity().await?;
    let mut out = Vec::new();
    for (scope, function_name) in scopes(lambda, functions).await? {
        let f = Freeze {
            scope,
            function_name,
            reason: reason.to_string(),
            by: by.clone(),
            at,
            until,
        };
        let replaced = ledger
            .freeze(&f)
            .await
            .map_err(CliError::aws("could not write the freeze"))?;
        out.push(format!("frozen: {}", f.describe()));
        if let Some(old) = replaced {
            out.push(format!("  (it replaces: {})", old.describe()));
        }
    }
    out.push(
        "new deployments in scope are refused (Frozen); running ones go on; sluice rollback and \
         requests with overrideFreeze go through"
            .into(),
    );
    Ok(out.join("\n"))
}

pub async fn unfreeze(
    ctx: &Context,
    lambda: &LambdaFunctions,
    functions: &[String],
) -> Result<String, CliError> {
    let ledger = ledger(ctx)?;
    let mut out = Vec::new();
    for (scope, name) in scopes(lambda, functions).await? {
        let lifted = ledger
            .unfreeze(&scope)
            .await
            .map_err(CliError::aws("could not lift the freeze"))?;
        out.push(match lifted {
            Some(f) => format!("lifted: {}", f.describe()),
            None => format!(
                "{} was not frozen",
                name.map_or("every deployment".into(), |n| format!("function {n}"))
            ),
        });
    }
    Ok(out.join("\n"))
}

pub async fn freezes(ctx: &Context) -> Result<String, CliError> {
    let all = ledger(ctx)?
        .all_freezes()
        .await
        .map_err(CliError::aws("could not read the freezes"))?;
    if all.is_empty() {
        return Ok("nothing is frozen".into());
    }
    let at = now();
    Ok(all
        .iter()
        .map(|f| {
            let ended = if f.in_force(at) { "" } else { " (ended)" };
            format!("{}{ended}", f.describe())
        })
        .collect::<Vec<_>>()
        .join("\n"))
}

/// "function:alias" (the function a name or an ARN) as the function and the alias.
pub fn target(text: &str) -> Result<(FunctionRef, AliasName), CliError> {
    let bad = |why: String| CliError::refused(format!("{text} is refused: {why}"));
    let (function, alias) = text
        .rsplit_once(':')
        .ok_or_else(|| bad("name the function and its alias, as FUNCTION:ALIAS".into()))?;
    let function = FunctionRef::parse(function, Role::Target).map_err(|e| bad(e.0))?;
    let alias = AliasName::parse(alias).map_err(|e| bad(e.0))?;
    Ok((function, alias))
}

/// The alias's journal, newest first, each entry with its record's status.
async fn journal(
    ctx: &Context,
    arn: &str,
    alias: &AliasName,
    limit: usize,
) -> Result<Vec<(sluice_core::AliasEntry, Option<sluice_core::Deployment>)>, CliError> {
    let ledger = ledger(ctx)?;
    let entries = ledger
        .alias_history(arn, alias.as_str(), limit)
        .await
        .map_err(CliError::aws("could not read the alias journal"))?;
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let record = ledger
            .load(&e.deployment_id)
            .await
            .map_err(CliError::aws(format!(
                "could not read the record of {}",
                e.deployment_id
            )))?;
        out.push((e, record));
    }
    Ok(out)
}

pub async fn history(
    ctx: &Context,
    lambda: &LambdaFunctions,
    text: &str,
    limit: usize,
    as_json: bool,
) -> Result<String, CliError> {
    let (function, alias) = target(text)?;
    let arn = function_arn(lambda, &function).await?;
    let rows = journal(ctx, &arn, &alias, limit).await?;
    if as_json {
        let list: Vec<Value> = rows
            .iter()
            .map(|(e, d)| {
                json!({
                    "deploymentId": e.deployment_id,
                    "startedAt": e.started_at,
                    "previousVersion": e.previous_version,
                    "targetVersion": e.target_version,
                    "status": d.as_ref().map(|d| d.status),
                    "endedAt": d.as_ref().filter(|d| d.status.is_settled()).map(|d| d.updated_at),
                    "failure": d.as_ref().and_then(|d| d.failure.as_ref()),
                    "requestedBy": e.requested_by,
                    "reason": e.reason,
                    "rollbackOf": e.rollback_of,
                })
            })
            .collect();
        return serde_json::to_string_pretty(&list).map_err(|e| CliError::Other(e.to_string()));
    }
    if rows.is_empty() {
        return Ok(format!(
            "the ledger knows no deployment of {function}:{alias} (its journal keeps 90 days)"
        ));
    }
    let mut out = vec![format!(
        "{:<44} {:<24} {:<12} {:<18} by",
        "deployment", "started", "versions", "outcome"
    )];
    for (e, d) in &rows {
        let outcome = match d {
            Some(d) => match &d.failure {
                Some(f) if d.status.is_settled() => format!("{} ({})", d.status.as_str(), f.error),
                _ => d.status.as_str().to_string(),
            },
            None => "(record gone)".into(),
        };
        out.push(format!(
            "{:<44} {:<24} {:<12} {:<18} {}",
            e.deployment_id,
            e.started_at.to_string(),
            format!(
                "{} -> {}",
                e.previous_version.as_deref().unwrap_or("new"),
                e.target_version
            ),
            outcome,
            e.requested_by.as_deref().unwrap_or("-")
        ));
        let mut why = Vec::new();
        if let Some(id) = &e.rollback_of {
            why.push(format!("rollback of {id}"));
        }
        if let Some(r) = &e.reason {
            why.push(format!("reason: {r}"));
        }
        if let Some(f) = d.as_ref().and_then(|d| d.failure.as_ref()) {
            why.push(format!("why: {}", f.cause));
        }
        for line in why {
            out.push(format!("    {line}"));
        }
    }
    Ok(out.join("\n"))
}

/// What `sluice rollback` was asked.
#[derive(clap::Args)]
pub struct RollbackAsk {
    /// FUNCTION:ALIAS (the function a name or an ARN).
    pub target: String,
    /// Go to this version instead of the one live before the last deployment.
    #[arg(long, conflicts_with = "deployment")]
    pub to: Option<String>,
    /// Undo this deployment: go to the version live before it.
    #[arg(long)]
    pub deployment: Option<String>,
    /// How the rollback shifts traffic.
    #[arg(long, default_value = "AllAtOnce")]
    pub strategy: String,
    /// An alarm that guards the rollback's own bakes (repeat); one already firing does not
    /// stop it unless --respect-firing-alarms.
    #[arg(long = "alarm")]
    pub alarms: Vec<String>,
    /// Refuse the rollback when one of --alarm is in ALARM as it starts.
    #[arg(long)]
    pub respect_firing_alarms: bool,
    #[arg(long)]
    pub pre_traffic: Option<String>,
    #[arg(long)]
    pub post_traffic: Option<String>,
    /// Why (recorded; default: "rollback of deployment ID").
    #[arg(long)]
    pub reason: Option<String>,
}

/// The request of a rollback: None when the alias serves the version asked already (said on
/// stdout).
pub async fn rollback_request(
    ctx: &Context,
    lambda: &LambdaFunctions,
    ask: RollbackAsk,
) -> Result<Option<Value>, CliError> {
    let (function, alias) = target(&ask.target)?;
    let name = format!("{function}:{alias}");
    let arn = function_arn(lambda, &function).await?;
    let asked = match (&ask.to, &ask.deployment) {
        (Some(v), _) => UndoAsked::Version(
            Version::parse(v)
                .map_err(|e| CliError::refused(format!("--to is refused: {}", e.0)))?,
        ),
        (None, Some(id)) => UndoAsked::Deployment(id.clone()),
        (None, None) => UndoAsked::Last,
    };
    // The newest entries decide a rollback of the last deployment; one named may be older.
    let limit = if ask.deployment.is_some() { 1000 } else { 50 };
    let rows = journal(ctx, &arn, &alias, limit).await?;
    let statuses: Vec<_> = rows
        .iter()
        .map(|(e, d)| (e.clone(), d.as_ref().map(|d| d.status)))
        .collect();
    let serving = lambda
        .get_alias(&function, &alias)
        .await
        .map_err(CliError::aws(format!("could not read {name}")))?;
    let undo = undo_point(
        &name,
        &asked,
        &statuses,
        serving.as_ref().map(|a| &a.routing),
    )
    .map_err(|e| CliError::refused(e.message))?;
    let (version, undoing, note) = match undo {
        Undo::Nothing(message) => {
            println!("{message}");
            return Ok(None);
        }
        Undo::To {
            version,
            undoing,
            note,
        } => (version, undoing, note),
    };
    println!("{note}");
    let reason = ask.reason.unwrap_or_else(|| match &undoing {
        Some(id) => format!("rollback of deployment {id}"),
        None => format!("rollback of {name} to version {version}"),
    });
    let strategy = if ask.strategy.trim_start().starts_with('{') {
        serde_json::from_str(&ask.strategy)
            .map_err(|e| CliError::refused(format!("--strategy is not valid JSON: {e}")))?
    } else {
        Value::String(ask.strategy.clone())
    };
    let mut request = json!({
        "targets": [{"functionName": function.as_str(), "alias": alias.as_str(), "targetVersion": version.as_str()}],
        "strategy": strategy,
        "reason": reason,
        "overrideFreeze": format!("a rollback goes through a freeze: {reason}"),
    });
    if let Some(id) = undoing {
        request["rollbackOf"] = json!(id);
    }
    if !ask.alarms.is_empty() {
        request["alarms"] = json!(ask.alarms);
        if !ask.respect_firing_alarms {
            // Rolling back because an alarm fires: it must not refuse the rollback.
            request["allowFiringAlarms"] = json!(ask.alarms);
        }
    }
    let mut hooks = serde_json::Map::new();
    if let Some(h) = ask.pre_traffic {
        hooks.insert("preTraffic".into(), json!(h));
    }
    if let Some(h) = ask.post_traffic {
        hooks.insert("postTraffic".into(), json!(h));
    }
    if !hooks.is_empty() {
        request["hooks"] = Value::Object(hooks);
    }
    Ok(Some(request))
}

/// `sluice approve`, `reject`, `pause`, `resume`, `promote [--full]`: records the command at the
/// bake's meeting point in the ledger (the ledger decides a race with the bake's own end: the
/// loser changes nothing and says so), ends the bake's watch with it, and waits until the
/// deployment applied it.
pub async fn command(
    ctx: &Context,
    id: &str,
    kind: CommandKind,
    reason: Option<String>,
) -> Result<String, CliError> {
    let ledger = ledger(ctx)?;
    let id = id.rsplit(':').next().unwrap_or(id);
    let record = ledger
        .load(id)
        .await
        .map_err(CliError::aws(format!("could not read the record of {id}")))?
        .ok_or_else(|| {
            CliError::refused(format!(
                "the ledger has no deployment {id} (not started, or refused before it was recorded)"
            ))
        })?;
    record.can_take(kind).map_err(CliError::refused)?;
    let command = Command {
        kind,
        by: identity().await?,
        reason: reason
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty()),
        at: now(),
    };
    let slot = record.bake_slot();
    let landed = ledger
        .command(id, &slot, &command)
        .await
        .map_err(CliError::aws("could not record the command"))?;
    match landed {
        Ok(Some(token)) => deliver(&ctx.sfn, &token, &command).await.map_err(|e| {
            CliError::Other(format!("could not reach the bake's watch: {}", e.message))
        })?,
        // The watch has not begun yet: it finds the command when it does.
        Ok(None) => {}
        Err(point) => {
            let why = match point.command {
                Some(other) => format!("another command came first: {}", other.describe()),
                None => "the bake ended on its own first (its time was up)".into(),
            };
            return Err(CliError::refused(format!(
                "{} lost the race: {why}; nothing changed (sluice status {id})",
                kind.as_str()
            )));
        }
    }
    println!(
        "{}: {} recorded; waiting for the deployment to apply it ...",
        id,
        command.describe()
    );
    let told = record.history.len() + record.history_dropped as usize;
    let started = std::time::Instant::now();
    loop {
        let now_record = ledger
            .load(id)
            .await
            .map_err(CliError::aws(format!("could not read the record of {id}")))?;
        if let Some(r) = now_record.filter(|r| {
            r.step != record.step || r.bake.round != record.bake.round || r.status.is_settled()
        }) {
            let seen = r.history.len() + r.history_dropped as usize;
            let fresh = seen.saturating_sub(told).min(r.history.len());
            let mut out: Vec<String> = r.history[r.history.len() - fresh..]
                .iter()
                .map(|e| format!("{} {}", e.at, e.message))
                .collect();
            out.extend(
                crate::progress::describe(&r)
                    .into_iter()
                    .map(|l| format!("  {l}")),
            );
            return Ok(out.join("\n"));
        }
        if started.elapsed() > std::time::Duration::from_secs(120) {
            return Ok(format!(
                "{id}: the command is recorded, but the deployment has not applied it in 2 minutes: \
                 it will when its watch begins or its bake's next check comes (sluice watch {id})"
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_is_function_colon_alias_the_function_a_name_or_an_arn() {
        let (f, a) = target("orders:live").unwrap();
        assert_eq!((f.as_str(), a.as_str()), ("orders", "live"));
        let (f, a) = target("arn:aws:lambda:us-east-1:123456789012:function:orders:live").unwrap();
        assert_eq!(
            (f.as_str(), a.as_str()),
            (
                "arn:aws:lambda:us-east-1:123456789012:function:orders",
                "live"
            )
        );
        assert!(target("orders").is_err());
        assert!(target("orders:").is_err());
    }

    #[test]
    fn until_is_a_time_or_a_duration_from_now_never_the_past() {
        let now = Timestamp::parse("2026-12-03T10:00:00Z").unwrap();
        assert_eq!(
            until("8h", now).unwrap(),
            Timestamp::parse("2026-12-03T18:00:00Z").unwrap()
        );
        assert_eq!(
            until("2026-12-24T00:00:00Z", now).unwrap(),
            Timestamp::parse("2026-12-24T00:00:00Z").unwrap()
        );
        assert!(until("2026-12-01T00:00:00Z", now).is_err());
        assert!(until("soon", now).is_err());
    }
}
