//! validate: Request -> Deployment. Checks everything before touching anything: the request's
//! shape, every named function, alias, version, hook and alarm, and that no alias is mid-shift.
//! Only then does it publish versions and create missing aliases.

use serde_json::Value;
use sluice_aws::{AlarmReader, FunctionStore};
use sluice_core::{
    Action, AlarmState, Deployment, Error, ErrorName, Request, ResolvedTarget, TargetVersion,
    Version,
};

/// What the state machine passes: the execution input and the execution's name.
pub async fn validate<F: FunctionStore, A: AlarmReader>(
    functions: &F,
    alarms: &A,
    input: Value,
    now: &str,
) -> Result<Deployment, Error> {
    let deployment_id = input
        .get("deploymentId")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::internal("validate needs {\"request\": ..., \"deploymentId\": ...} (the state machine passes both)"))?
        .to_string();
    let request = Request::parse(input.get("request").unwrap_or(&Value::Null))?;

    // 1. Read and check; no writes.
    let mut current = Vec::with_capacity(request.targets.len());
    for (i, t) in request.targets.iter().enumerate() {
        if !functions.function_exists(&t.function_name, None).await? {
            return Err(Error::invalid(
                &format!("targets[{i}].functionName"),
                format!("function {} does not exist", t.function_name),
            ));
        }
        let alias = functions.get_alias(&t.function_name, &t.alias).await?;
        if let Some((snapshot, (v, w))) = alias
            .as_ref()
            .and_then(|s| s.routing.additional.as_ref().map(|a| (s, a)))
        {
            return Err(Error::new(
                ErrorName::AliasBusy,
                format!(
                    "{}:{} already routes {} to version {} besides version {}: another deployment is in progress, \
                     or one stopped half-way. Let it finish, or point the alias at one version, then start again",
                    t.function_name, t.alias, w, v, snapshot.routing.version
                ),
            ));
        }
        let wanted = match &t.version {
            TargetVersion::Publish => None,
            TargetVersion::Version(v) => {
                if !functions.function_exists(&t.function_name, Some(v)).await? {
                    return Err(Error::invalid(
                        &format!("targets[{i}].targetVersion"),
                        format!("version {v} of {} does not exist", t.function_name),
                    ));
                }
                Some(v.clone())
            }
            TargetVersion::FromAlias(name) => {
                let field = format!("targets[{i}].targetVersion");
                let other = functions
                    .get_alias(&t.function_name, name)
                    .await?
                    .ok_or_else(|| {
                        Error::invalid(
                            &field,
                            format!("alias {}:{name} does not exist", t.function_name),
                        )
                    })?;
                if other.routing.additional.is_some() {
                    return Err(Error::invalid(
                        &field,
                        format!(
                            "alias {}:{name} routes to two versions ({}); name one version",
                            t.function_name,
                            other.routing.describe()
                        ),
                    ));
                }
                Some(other.routing.version)
            }
        };
        current.push((alias, wanted));
    }
    for (field, hook) in [
        ("hooks.preTraffic", &request.hooks.pre_traffic),
        ("hooks.postTraffic", &request.hooks.post_traffic),
    ] {
        if let Some(h) = hook
            && !functions.function_exists(h, None).await?
        {
            return Err(Error::invalid(
                field,
                format!("function {h} does not exist"),
            ));
        }
    }
    if !request.alarms.is_empty() {
        let found = alarms.read_alarms(&request.alarms).await?;
        let missing: Vec<&str> = request
            .alarms
            .iter()
            .filter(|a| !found.iter().any(|r| &r.name == *a))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(Error::invalid(
                "alarms",
                format!(
                    "no CloudWatch alarm named {} (a missing alarm would never fire)",
                    missing.join(", ")
                ),
            ));
        }
        // As CodeDeploy does: an alarm already firing refuses the deployment before any traffic moves.
        let firing: Vec<String> = found
            .iter()
            .filter(|r| r.state == AlarmState::Alarm)
            .map(|r| format!("{} ({})", r.name, r.reason))
            .collect();
        if !firing.is_empty() {
            return Err(Error::new(
                ErrorName::AlarmBreached,
                format!(
                    "alarm {} already in ALARM before any traffic moved; nothing was shifted",
                    firing.join(", ")
                ),
            ));
        }
    }

    // 2. Everything named exists: publish what must be published, create first-time aliases.
    let mut resolved = Vec::with_capacity(current.len());
    for (t, (alias, wanted)) in request.targets.iter().zip(current) {
        let target_version: Version = match wanted {
            Some(v) => v,
            None => functions.publish_version(&t.function_name).await?,
        };
        resolved.push(match alias {
            None => {
                let revision_id = functions
                    .create_alias(&t.function_name, &t.alias, &target_version)
                    .await?;
                ResolvedTarget {
                    action: Action::Created,
                    previous_version: None,
                    target_version,
                    revision_id,
                }
            }
            Some(snapshot) => ResolvedTarget {
                action: if snapshot.routing.version == target_version {
                    Action::Unchanged
                } else {
                    Action::Shift
                },
                previous_version: Some(snapshot.routing.version),
                target_version,
                revision_id: snapshot.revision_id,
            },
        });
    }
    Deployment::new(&request, &deployment_id, now, resolved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sluice_aws::AwsErrorKind;
    use sluice_aws::fake::FakeAws;
    use sluice_core::{Routing, Status, Weight};

    fn v(n: &str) -> Version {
        Version::parse(n).unwrap()
    }

    fn aws() -> FakeAws {
        FakeAws::new()
            .function("orders", 3)
            .alias("orders", "live", Routing::only(v("2")))
            .alias("orders", "candidate", Routing::only(v("3")))
            .function("orders-pre", 1)
            .alarm("orders-errors", AlarmState::Ok)
            .alarm("orders-firing", AlarmState::Alarm)
    }

    fn input(request: Value) -> Value {
        json!({"request": request, "deploymentId": "d-1"})
    }

    fn good() -> Value {
        json!({
            "targets": [{"functionName": "orders", "alias": "live", "targetVersion": "3"}],
            "strategy": "Canary10Percent5Minutes",
            "alarms": ["orders-errors"],
            "hooks": {"preTraffic": "orders-pre"}
        })
    }

    #[tokio::test]
    async fn a_good_request_becomes_a_ready_document() {
        let aws = aws();
        let d = validate(&aws, &aws, input(good()), "t0").await.unwrap();
        assert_eq!(d.status, Status::Ready);
        let t = &d.targets[0];
        assert_eq!(
            (
                t.action,
                t.previous_version.clone(),
                t.target_version.clone()
            ),
            (Action::Shift, Some(v("2")), v("3"))
        );
        assert_eq!(
            t.revision_id,
            aws.current("orders", "live").unwrap().revision_id
        );
        assert!(
            aws.writes().is_empty(),
            "validate wrote: {:?}",
            aws.writes()
        );
    }

    /// Every refusal names what is wrong and happens before any write.
    #[tokio::test]
    async fn bad_requests_are_refused_before_anything_is_touched() {
        let patch = |f: &dyn Fn(&mut Value)| {
            let mut r = good();
            f(&mut r);
            r
        };
        let cases: Vec<(Value, ErrorName, &str)> = vec![
            (
                patch(&|r| r["targets"] = json!([])),
                ErrorName::InvalidRequest,
                "targets: must name at least one",
            ),
            (
                patch(&|r| r["strategy"] = json!("Canary5")),
                ErrorName::InvalidRequest,
                "strategy: unknown preset",
            ),
            (
                patch(&|r| r["targets"][0]["functionName"] = json!("nope")),
                ErrorName::InvalidRequest,
                "targets[0].functionName: function nope does not exist",
            ),
            (
                patch(&|r| r["targets"][0]["targetVersion"] = json!("9")),
                ErrorName::InvalidRequest,
                "targets[0].targetVersion: version 9 of orders does not exist",
            ),
            (
                patch(&|r| r["targets"][0]["targetVersion"] = json!("alias:beta")),
                ErrorName::InvalidRequest,
                "targets[0].targetVersion: alias orders:beta does not exist",
            ),
            (
                patch(&|r| r["hooks"]["postTraffic"] = json!("ghost")),
                ErrorName::InvalidRequest,
                "hooks.postTraffic: function ghost does not exist",
            ),
            (
                patch(&|r| r["alarms"] = json!(["orders-errors", "typo"])),
                ErrorName::InvalidRequest,
                "alarms: no CloudWatch alarm named typo",
            ),
            (
                patch(&|r| r["alarms"] = json!(["orders-errors", "orders-firing"])),
                ErrorName::AlarmBreached,
                "alarm orders-firing (orders-firing set to Alarm by the test) already in ALARM before any traffic moved",
            ),
            // A second target that fails must not let the first one publish.
            (
                patch(
                    &|r| r["targets"] = json!([{"functionName": "orders", "alias": "live"}, {"functionName": "nope", "alias": "live"}]),
                ),
                ErrorName::InvalidRequest,
                "targets[1].functionName",
            ),
        ];
        for (request, name, text) in cases {
            let aws = aws();
            aws.change_code("orders");
            let err = validate(&aws, &aws, input(request.clone()), "t0")
                .await
                .expect_err(&request.to_string());
            assert_eq!(err.name, name, "{request}");
            assert!(err.message.contains(text), "{request}: {}", err.message);
            assert!(
                aws.writes().is_empty(),
                "{request}: wrote {:?}",
                aws.writes()
            );
        }
    }

    #[tokio::test]
    async fn an_alias_with_weights_is_busy() {
        let w = Weight::from_percent(10.0).unwrap();
        let aws = aws().alias(
            "orders",
            "live",
            Routing {
                version: v("1"),
                additional: Some((v("2"), w)),
            },
        );
        let err = validate(&aws, &aws, input(good()), "t0").await.unwrap_err();
        assert_eq!(err.name, ErrorName::AliasBusy);
        assert!(
            err.message
                .contains("orders:live already routes 10% to version 2 besides version 1"),
            "{}",
            err.message
        );
        assert!(aws.writes().is_empty());
    }

    #[tokio::test]
    async fn publishes_when_no_version_is_named_and_stops_when_nothing_changed() {
        let aws = aws();
        let mut req = good();
        req["targets"][0] = json!({"functionName": "orders", "alias": "live"});
        aws.change_code("orders");
        let d = validate(&aws, &aws, input(req.clone()), "t0")
            .await
            .unwrap();
        assert_eq!(d.targets[0].target_version, v("4"));
        assert_eq!(aws.writes(), vec!["PublishVersion orders -> 4".to_string()]);

        // Publishing unchanged code returns the version the alias already serves.
        let aws = FakeAws::new()
            .function("orders", 3)
            .alias("orders", "live", Routing::only(v("3")))
            .alarm("orders-errors", AlarmState::Ok)
            .function("orders-pre", 1);
        let d = validate(&aws, &aws, input(req), "t0").await.unwrap();
        assert_eq!(d.status, Status::NothingToDeploy);
        assert_eq!(d.targets[0].action, Action::Unchanged);
    }

    #[tokio::test]
    async fn takes_the_version_of_another_alias_and_creates_a_missing_alias() {
        let aws = aws().function("billing", 2);
        let req = json!({
            "targets": [
                {"functionName": "orders", "alias": "live", "targetVersion": "alias:candidate"},
                {"functionName": "billing", "alias": "live", "targetVersion": "2"}
            ],
            "strategy": "AllAtOnce"
        });
        let d = validate(&aws, &aws, input(req), "t0").await.unwrap();
        assert_eq!(d.targets[0].target_version, v("3"));
        assert_eq!(d.targets[1].action, Action::Created);
        assert_eq!(d.targets[1].previous_version, None);
        assert_eq!(
            aws.current("billing", "live").unwrap().routing,
            Routing::only(v("2"))
        );
        assert_eq!(d.status, Status::Ready, "orders still shifts");
    }

    #[tokio::test]
    async fn transient_aws_errors_keep_their_retryable_name() {
        let aws = aws();
        aws.fail_next("DescribeAlarms", AwsErrorKind::Transient, false);
        let err = validate(&aws, &aws, input(good()), "t0").await.unwrap_err();
        assert_eq!(err.name, ErrorName::TransientAws);
    }

    #[tokio::test]
    async fn refuses_input_without_a_deployment_id() {
        let aws = aws();
        let err = validate(&aws, &aws, good(), "t0").await.unwrap_err();
        assert_eq!(err.name, ErrorName::InternalError);
    }
}
