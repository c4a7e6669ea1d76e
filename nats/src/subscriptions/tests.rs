//! Unit tests of the subscription wire: consumer configuration, restart policy, spec resolution.
use super::*;

fn spec(filters: &[&str], start: Start) -> SubscriptionSpec {
    SubscriptionSpec {
        name: "clicks".into(),
        stream: "CLICKS".into(),
        filters: filters.iter().map(|f| (*f).to_owned()).collect(),
        component: ComponentName::new("sessions").unwrap(),
        worker: WorkerTemplate::parse("{token:2}").unwrap(),
        function: "add".into(),
        input: Input::Arguments,
        returns_result: false,
        window: 7,
        on_failure: OnFailure::BlockKey,
        start,
        paused: false,
        retries: 0,
        skips: 0,
        created_at: 0,
    }
}

#[test]
fn a_new_consumer_starts_where_the_spec_says_and_an_old_one_stays_put() {
    let ns = Namespace::new("rvn").unwrap();
    let c = consumer_config(&ns, &spec(&["clicks.>"], Start::Sequence(5)), None);
    assert_eq!(c.durable_name.as_deref(), Some("rvn-sub-clicks"));
    assert_eq!(c.filter_subject, "clicks.>");
    assert_eq!(c.max_ack_pending, 7);
    assert_eq!(
        c.deliver_policy,
        consumer::DeliverPolicy::ByStartSequence { start_sequence: 5 }
    );
    let old = consumer::Config {
        deliver_policy: consumer::DeliverPolicy::All,
        ..Default::default()
    };
    let c = consumer_config(&ns, &spec(&["a.*", "b.*"], Start::New), Some(&old));
    assert_eq!(c.deliver_policy, consumer::DeliverPolicy::All);
    assert_eq!(c.filter_subjects, vec!["a.*", "b.*"]);
    assert!(c.filter_subject.is_empty());
}

#[test]
fn a_taken_over_consumer_starts_after_its_ack_floor_or_where_it_started() {
    let first = consumer::Config {
        deliver_policy: consumer::DeliverPolicy::ByStartSequence { start_sequence: 40 },
        ..Default::default()
    };
    assert_eq!(
        restart_policy(57, &first),
        consumer::DeliverPolicy::ByStartSequence { start_sequence: 58 }
    );
    assert_eq!(restart_policy(0, &first), first.deliver_policy);
}

fn export(name: &str, result: Option<&str>) -> ExportedFunction {
    ExportedFunction {
        name: name.into(),
        params: vec![],
        result: result.map(str::to_owned),
        shapes: vec![],
    }
}

#[test]
fn a_new_subscription_calls_handle_with_the_message_or_any_export_with_arguments() {
    let exports = [
        export(
            "revenant:api/subscriber@0.2.0.{handle}",
            Some("result<_, string>"),
        ),
        export("example:stats/api.{add}", None),
    ];
    let new = NewSubscription {
        name: "s".into(),
        stream: "S".into(),
        component: "stats".into(),
        worker: "{token:2}".into(),
        ..Default::default()
    };
    let spec = new.spec(&exports).unwrap();
    assert_eq!(spec.function, "revenant:api/subscriber@0.2.0.{handle}");
    assert_eq!((spec.input, spec.returns_result), (Input::Message, true));
    assert_eq!(
        (spec.window, spec.start, spec.on_failure),
        (DEFAULT_WINDOW, Start::New, OnFailure::BlockKey)
    );
    let add = NewSubscription {
        function: Some("add".into()),
        on_failure: Some("dead-letter".into()),
        start: Some("all".into()),
        ..new.clone()
    }
    .spec(&exports)
    .unwrap();
    assert_eq!((add.input, add.returns_result), (Input::Arguments, false));
    let e = NewSubscription {
        function: Some("nope".into()),
        ..new.clone()
    }
    .spec(&exports)
    .unwrap_err();
    assert!(e.0.contains("nope"), "{e}");
    let e = new.spec(&exports[1..]).unwrap_err();
    assert!(e.0.contains("without --function"), "{e}");
}
