//! validate: Request -> Deployment. Reads every named function, alias, version, hook and
//! alarm, and lets sluice-core check them before anything is written; only then publishes
//! versions and creates missing aliases.

use serde_json::Value;
use sluice_aws::{AlarmReader, FunctionStore};
use sluice_core::{
    AlarmSummary, Deployment, Error, ResolvedTarget, StartInput, TargetVersion, VersionSource,
    require_function,
};

/// What the state machine passes: the execution input and the execution's name.
pub async fn validate<F: FunctionStore, A: AlarmReader>(
    functions: &F,
    alarms: &A,
    input: Value,
    now: &str,
) -> Result<Deployment, Error> {
    let StartInput {
        deployment_id,
        request,
    } = StartInput::parse(&input)?;

    // 1. Read and check; no writes.
    let mut checked = Vec::with_capacity(request.targets.len());
    for (i, t) in request.targets.iter().enumerate() {
        let function = &t.function_name;
        let exists = functions.function_exists(function, None).await?;
        require_function(&format!("targets[{i}].functionName"), function, exists)?;
        let alias = functions.get_alias(function, &t.alias).await?;
        let source = match &t.version {
            TargetVersion::Publish => VersionSource::Publish,
            TargetVersion::Version(version) => VersionSource::Version {
                exists: functions.function_exists(function, Some(version)).await?,
                version: version.clone(),
            },
            TargetVersion::FromAlias(name) => VersionSource::Alias {
                alias: functions.get_alias(function, name).await?,
                name: name.clone(),
            },
        };
        checked.push(t.check(i, alias, source)?);
    }
    for (field, hook) in request.hooks.named() {
        require_function(field, hook, functions.function_exists(hook, None).await?)?;
    }
    let readings = alarms.read_alarms(&request.alarms).await?;
    AlarmSummary::of(&request.alarms, &readings).refuse_start()?;

    // 2. Everything named exists: publish what must be published, create first-time aliases.
    let mut resolved = Vec::with_capacity(checked.len());
    for (t, c) in request.targets.iter().zip(checked) {
        let version = match c.version {
            Some(v) => v,
            None => functions.publish_version(&t.function_name).await?,
        };
        resolved.push(match c.alias {
            Some(alias) => ResolvedTarget::existing(alias, version),
            None => {
                let revision = functions
                    .create_alias(&t.function_name, &t.alias, &version)
                    .await?;
                ResolvedTarget::created(version, revision)
            }
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
    use sluice_core::testing::v;
    use sluice_core::{Action, AlarmState, ErrorName, Routing, Status, Weight};

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
                "alarm orders-firing is in ALARM (orders-firing set to Alarm by the test) already, before any traffic moved",
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
