//! Two real `hotline serve` nodes on one PostgreSQL share an account's failed logins: a
//! guesser who spreads wrong passwords over both gets no more tries than on one node, and
//! then even the right password is refused until the window passes.

mod web_support;

use hotline::web::accounts::Role;
use web_support::*;

/// One login through the form; the status answered.
async fn try_login(b: &mut Browser, name: &str, password: &str) -> u16 {
    let csrf = csrf_of(&b.get("/login").await.body);
    b.post(
        "/login",
        &[("csrf", &csrf), ("name", name), ("password", password)],
    )
    .await
    .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_on_two_nodes_count_together() {
    let url = common::fresh_pg().await;
    let env = [("HOTLINE__DATABASE__URL", url)];
    let a = Served::start(&env).await;
    let b = Served::start(&env).await;
    a.add_user("op1", Role::Operator, None).await;
    a.add_user("op2", Role::Operator, None).await;
    let (mut on_a, mut on_b) = (a.anon(), b.anon());

    // The default limit is 5 failures: 3 on A and 2 on B use it up.
    for _ in 0..3 {
        assert_eq!(try_login(&mut on_a, "op1", "wrong-guess-123").await, 401);
    }
    for _ in 0..2 {
        assert_eq!(try_login(&mut on_b, "op1", "wrong-guess-456").await, 401);
    }
    // Each node alone has seen fewer than 5; together they refuse, the right password too.
    assert_eq!(try_login(&mut on_a, "op1", &password("op1")).await, 429);
    assert_eq!(try_login(&mut on_b, "op1", &password("op1")).await, 429);

    // Another account is not touched, and its right password clears its own failures.
    assert_eq!(try_login(&mut on_b, "op2", "wrong-guess-789").await, 401);
    assert_eq!(try_login(&mut on_a, "op2", &password("op2")).await, 303);
    let failures: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM login_failures WHERE account = 'op2'")
            .fetch_one(a.tickets.db().pool())
            .await
            .unwrap();
    assert_eq!(failures, 0);
}
