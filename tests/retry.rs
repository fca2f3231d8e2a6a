//! Acting on a failed export: `x`, a confirmation, one CreateStoreImageTask through the real
//! SDK to the embedded endpoint, and the new attempt in progress at the next poll. Without
//! --allow-retry nothing but Describe calls is ever sent.

mod common;

use std::sync::Arc;
use std::time::Duration;

use amiwatch::app::view::StateFilter;
use amiwatch::app::{Action, App, Effect, Mode};
use amiwatch::ec2::client::connect_embedded_as;
use amiwatch::ec2::{self, ClientOptions, Ec2, Paging, PollEvent, Selection, Snapshot};
use amiwatch::sim::{self, SimConfig, SimHandle};
use amiwatch::task::TaskState;

async fn endpoint() -> SimHandle {
    // The keys these tests sign with, known to the endpoint (it checks signatures).
    let keys = sim::Keys::demo().with_demo_secret(["AKIDRETRY", "READONLYKEY"]);
    let config = SimConfig { tasks: 300, seed: 17, frozen: true, keys, ..SimConfig::default() };
    sim::start(([127, 0, 0, 1], 0).into(), config).await.unwrap()
}

fn client(h: &SimHandle, key: &str) -> Ec2 {
    let opts = ClientOptions { attempt_timeout: Some(Duration::from_secs(5)), ..ClientOptions::default() };
    connect_embedded_as(h.url(), &opts, key, "us-east-1")
}

/// A dashboard state fed by a real fetch, retries allowed, showing failed tasks.
async fn dashboard(ec2: &Ec2) -> App {
    let mut app = App::new(Vec::new(), Duration::from_secs(5), chrono::Utc::now());
    app.allow_retry = true;
    poll(&mut app, ec2).await;
    app.handle(Action::SetState(StateFilter::Failed));
    app
}

async fn poll(app: &mut App, ec2: &Ec2) {
    let f = ec2::fetch_all(ec2, &Selection::default(), &Paging::default()).await.unwrap();
    let snapshot = Arc::new(Snapshot { tasks: f.tasks.into(), fetched_at: chrono::Utc::now(), next_token: None });
    app.apply(0, PollEvent::Snapshot { snapshot, next_in: Duration::from_secs(5), slowed: false, requests: 1 });
}

/// Selects the first failed row whose AMI passes `pick`; returns its AMI.
fn select(app: &mut App, pick: impl Fn(&str) -> bool) -> String {
    for row in 0..app.view.rows.len() {
        app.handle(Action::Top);
        app.handle(Action::Move(row as i64));
        let ami = app.task(app.selected_task().unwrap()).ami_id.as_deref().unwrap().to_string();
        if pick(&ami) {
            return ami;
        }
    }
    panic!("no failed task fits");
}

/// What the event loop does with the effect: one call, the answer back to the app.
async fn carry_out(app: &mut App, ec2: &Ec2, effect: Option<Effect>) {
    let Some(Effect::Retry(plan)) = effect else { panic!("expected a retry, got {effect:?}") };
    let res = ec2::export::create_store_image_task(ec2, &plan.ami, &plan.bucket, &[])
        .await
        .map_err(|e| ec2::export::explain(&e, &plan.ami));
    app.retry_done(&plan, res);
}

fn exists(ami: &str) -> bool {
    sim::images::image_of(ami, 17, chrono::Utc::now()).is_some()
}

#[tokio::test(flavor = "multi_thread")]
async fn x_confirm_and_the_new_attempt_shows_in_progress_with_the_failed_one_listed() {
    let h = endpoint().await;
    let ec2 = client(&h, "AKIDRETRY");
    let mut app = dashboard(&ec2).await;
    let ami = select(&mut app, exists);
    // Every state shown, as in the README's flow: the selection stays on the AMI.
    app.handle(Action::SetState(StateFilter::All));
    assert_eq!(app.task(app.selected_task().unwrap()).ami_id.as_deref(), Some(ami.as_str()));
    app.handle(Action::Retry);
    assert_eq!(app.mode, Mode::ConfirmRetry);
    assert_eq!(app.confirm.as_ref().unwrap().ami, ami);
    assert_eq!(h.stats().create_store_image_task, 0, "nothing sent before Enter");
    let effect = app.handle(Action::Confirm);
    carry_out(&mut app, &ec2, effect).await;
    assert_eq!(h.stats().create_store_image_task, 1, "sent once");
    let toast = app.current_toast().unwrap().to_string();
    assert!(toast.starts_with(&format!("export of {ami} started again: s3://")), "{toast}");
    poll(&mut app, &ec2).await;
    // What is selected (the ▶ and the detail pane) is the AMI's new attempt, in progress.
    let i = app.selected_task().unwrap();
    assert_eq!(app.task(i).ami_id.as_deref(), Some(ami.as_str()), "the selection follows the AMI");
    assert_eq!(app.task(i).state, Some(TaskState::InProgress), "the new attempt, in progress at the next poll");
    let earlier = app.earlier_attempts(i);
    assert!(earlier.iter().any(|&j| app.task(j).state == Some(TaskState::Failed)), "the failed attempt is listed");
}

#[tokio::test(flavor = "multi_thread")]
async fn each_refusal_is_a_toast_and_a_single_call() {
    let h = endpoint().await;
    // A deregistered AMI cannot be exported again.
    let ec2 = client(&h, "AKIDRETRY");
    let mut app = dashboard(&ec2).await;
    select(&mut app, |a| !exists(a));
    app.handle(Action::Retry);
    let effect = app.handle(Action::Confirm);
    carry_out(&mut app, &ec2, effect).await;
    assert!(app.current_toast().unwrap().contains("no longer exists (deregistered)"), "{:?}", app.current_toast());
    assert_eq!(h.stats().create_store_image_task, 1);

    // A caller without the permission.
    let ro = client(&h, "READONLYKEY");
    let mut app = dashboard(&ro).await;
    select(&mut app, |_| true);
    app.handle(Action::Retry);
    let effect = app.handle(Action::Confirm);
    carry_out(&mut app, &ro, effect).await;
    assert!(
        app.current_toast().unwrap().contains("may not call ec2:CreateStoreImageTask"),
        "{:?}",
        app.current_toast()
    );
    assert_eq!(h.stats().create_store_image_task, 2);

    // An export of that AMI already running: the second try is refused.
    let mut app = dashboard(&ec2).await;
    let ami = select(&mut app, exists);
    ec2::export::create_store_image_task(&ec2, &ami, "acme-ami-archive", &[]).await.unwrap();
    app.handle(Action::Retry);
    let effect = app.handle(Action::Confirm);
    carry_out(&mut app, &ec2, effect).await;
    assert!(app.current_toast().unwrap().contains("already in progress"), "{:?}", app.current_toast());
    assert_eq!(h.stats().create_store_image_task, 4, "one call each, never repeated");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_flag_or_on_the_wrong_task_nothing_is_sent() {
    let h = endpoint().await;
    let ec2 = client(&h, "AKIDRETRY");
    let mut app = dashboard(&ec2).await;
    app.allow_retry = false;
    app.handle(Action::Retry);
    assert_eq!(app.mode, Mode::Normal);
    assert!(app.current_toast().unwrap().contains("--allow-retry"));
    app.allow_retry = true;
    app.handle(Action::SetState(StateFilter::Completed));
    assert_eq!(app.handle(Action::Retry), None);
    assert!(app.current_toast().unwrap().contains("not failed"), "{:?}", app.current_toast());
    // A failed attempt with a newer one after it.
    app.handle(Action::SetState(StateFilter::All));
    app.handle(Action::ToggleAllTasks);
    let older = app.view.rows.iter().position(|&i| {
        app.task(i).state == Some(TaskState::Failed)
            && app.attempt_count(i) > 1
            && app.earlier_attempts(i).iter().any(|&j| app.task(j).start_time > app.task(i).start_time)
    });
    if let Some(row) = older {
        app.handle(Action::Top);
        app.handle(Action::Move(row as i64));
        app.handle(Action::Retry);
        assert!(app.current_toast().unwrap().contains("newer export"), "{:?}", app.current_toast());
    }
    // Esc cancels a confirmation.
    app.handle(Action::ToggleAllTasks);
    app.handle(Action::SetState(StateFilter::Failed));
    app.handle(Action::Top);
    app.handle(Action::Retry);
    assert_eq!(app.mode, Mode::ConfirmRetry);
    app.handle(Action::Back);
    assert_eq!(app.mode, Mode::Normal);
    assert!(app.current_toast().unwrap().contains("nothing was sent"));
    assert_eq!(h.stats().create_store_image_task, 0, "the endpoint received no CreateStoreImageTask at all");
}
