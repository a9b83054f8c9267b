#![allow(clippy::unwrap_used, clippy::expect_used)]

use cqrs_es::Aggregate;
use cqrs_es::test::TestFramework;
use uuid::Uuid;

use super::*;

type AccountTester = TestFramework<Account>;

fn user() -> UserId {
    UserId(Uuid::from_u128(1))
}

fn email() -> Email {
    Email::parse("clara@example.org").unwrap()
}

fn register(display_name: Option<&str>) -> AccountCommand {
    AccountCommand::RegisterAccount {
        user_id: user(),
        email: email(),
        password_hash: "$argon2id$v=19$first".to_owned(),
        display_name: display_name.map(str::to_owned),
    }
}

fn registered(display_name: Option<&str>) -> AccountEvent {
    AccountEvent::AccountRegistered {
        user_id: user(),
        email: email(),
        password_hash: "$argon2id$v=19$first".to_owned(),
        display_name: display_name.map(str::to_owned),
    }
}

#[test]
fn registering_a_new_account_records_it() {
    AccountTester::with(())
        .given_no_previous_events()
        .when(register(Some("Clara")))
        .then_expect_events(vec![registered(Some("Clara"))]);
}

#[test]
fn registering_without_a_display_name_is_allowed() {
    AccountTester::with(())
        .given_no_previous_events()
        .when(register(None))
        .then_expect_events(vec![registered(None)]);
}

#[test]
fn registering_trims_the_display_name() {
    AccountTester::with(())
        .given_no_previous_events()
        .when(register(Some("  Clara Schumann \t")))
        .then_expect_events(vec![registered(Some("Clara Schumann"))]);
}

#[test]
fn registering_twice_is_refused() {
    AccountTester::with(())
        .given(vec![registered(None)])
        .when(register(None))
        .then_expect_error(AccountError::AlreadyRegistered);
}

#[test]
fn a_display_name_of_100_characters_in_any_script_is_accepted() {
    let name = "가".repeat(MAX_DISPLAY_NAME_CHARS);
    AccountTester::with(())
        .given_no_previous_events()
        .when(register(Some(&name)))
        .then_expect_events(vec![registered(Some(&name))]);
}

#[test]
fn a_display_name_longer_than_100_characters_is_refused() {
    AccountTester::with(())
        .given_no_previous_events()
        .when(register(Some(&"a".repeat(MAX_DISPLAY_NAME_CHARS + 1))))
        .then_expect_error(AccountError::InvalidDisplayName);
}

#[test]
fn a_blank_display_name_is_refused() {
    AccountTester::with(())
        .given_no_previous_events()
        .when(register(Some("   ")))
        .then_expect_error(AccountError::InvalidDisplayName);
}

#[test]
fn changing_the_password_records_the_new_hash() {
    AccountTester::with(())
        .given(vec![registered(None)])
        .when(AccountCommand::ChangePassword {
            password_hash: "$argon2id$v=19$second".to_owned(),
        })
        .then_expect_events(vec![AccountEvent::PasswordChanged {
            password_hash: "$argon2id$v=19$second".to_owned(),
        }]);
}

#[test]
fn changing_the_password_to_the_current_hash_changes_nothing() {
    AccountTester::with(())
        .given(vec![registered(None)])
        .when(AccountCommand::ChangePassword {
            password_hash: "$argon2id$v=19$first".to_owned(),
        })
        .then_expect_events(vec![]);
}

#[test]
fn changing_the_password_of_an_unregistered_account_is_refused() {
    AccountTester::with(())
        .given_no_previous_events()
        .when(AccountCommand::ChangePassword {
            password_hash: "$argon2id$v=19$second".to_owned(),
        })
        .then_expect_error(AccountError::NotRegistered);
}

#[test]
fn granting_a_role_records_it() {
    AccountTester::with(())
        .given(vec![registered(None)])
        .when(AccountCommand::GrantRole {
            role: Role::Auditor,
        })
        .then_expect_events(vec![AccountEvent::RoleGranted {
            role: Role::Auditor,
        }]);
}

#[test]
fn granting_a_role_already_held_changes_nothing() {
    AccountTester::with(())
        .given(vec![
            registered(None),
            AccountEvent::RoleGranted {
                role: Role::Auditor,
            },
        ])
        .when(AccountCommand::GrantRole {
            role: Role::Auditor,
        })
        .then_expect_events(vec![]);
}

#[test]
fn granting_a_role_on_an_unregistered_account_is_refused() {
    AccountTester::with(())
        .given_no_previous_events()
        .when(AccountCommand::GrantRole {
            role: Role::Auditor,
        })
        .then_expect_error(AccountError::NotRegistered);
}

#[test]
fn revoking_a_held_role_records_it() {
    AccountTester::with(())
        .given(vec![
            registered(None),
            AccountEvent::RoleGranted {
                role: Role::Auditor,
            },
        ])
        .when(AccountCommand::RevokeRole {
            role: Role::Auditor,
        })
        .then_expect_events(vec![AccountEvent::RoleRevoked {
            role: Role::Auditor,
        }]);
}

#[test]
fn revoking_a_role_not_held_changes_nothing() {
    AccountTester::with(())
        .given(vec![registered(None)])
        .when(AccountCommand::RevokeRole {
            role: Role::Auditor,
        })
        .then_expect_events(vec![]);
}

#[test]
fn revoking_a_role_on_an_unregistered_account_is_refused() {
    AccountTester::with(())
        .given_no_previous_events()
        .when(AccountCommand::RevokeRole {
            role: Role::Auditor,
        })
        .then_expect_error(AccountError::NotRegistered);
}

#[test]
fn the_account_exposes_what_it_was_told() {
    let mut account = Account::default();
    assert!(!account.is_registered());
    for event in [
        registered(Some("Clara")),
        AccountEvent::PasswordChanged {
            password_hash: "second".to_owned(),
        },
        AccountEvent::RoleGranted {
            role: Role::Auditor,
        },
    ] {
        account.apply(event);
    }
    assert_eq!(account.user_id(), Some(user()));
    assert_eq!(account.email(), Some(&email()));
    assert_eq!(account.password_hash(), Some("second"));
    assert_eq!(account.display_name(), Some("Clara"));
    assert!(account.has_role(Role::Auditor));
    assert_eq!(account.roles().len(), 1);
}

#[test]
fn roles_parse_from_their_names() {
    assert_eq!("auditor".parse::<Role>(), Ok(Role::Auditor));
    assert_eq!(Role::Auditor.to_string(), "auditor");
    assert_eq!(
        "admin".parse::<Role>(),
        Err(UnknownRole("admin".to_owned()))
    );
    assert_eq!(
        serde_json::to_string(&Role::Auditor).unwrap(),
        "\"auditor\""
    );
}
