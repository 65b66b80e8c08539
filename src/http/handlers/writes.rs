//! The endpoints that change a router: sync, secrets (create, update, delete), kick,
//! isolate, backup. Each validates all of its input before anything is sent, and runs
//! inside its `WriteScope` (audit entry, idempotency).

use super::*;

pub fn sync(state: &AppState, _: &ApiRequest, params: &Params, scope: &WriteScope) -> Reply {
    let id = router_id_param(params)?;
    let change = Change {
        router: Some(id),
        user: None,
        address: None,
        action: "sync",
        change: json!({}),
    };
    let outcome = match handle_for(state, id)?.refresh() {
        Ok(outcome) => outcome,
        Err(e) => {
            let error = ApiError::from(e.clone());
            scope.record(&change, outcome_of(&e), error.status, Some(e.to_string()));
            return Err(error);
        }
    };
    scope.record(&change, Outcome::Applied, 200, None);
    let stored = state
        .hooks
        .store_secrets(id, &outcome.secrets, &outcome.sessions)
        .map_err(|e| {
            ApiError::new(
                503,
                "database_unavailable",
                format!("router refreshed, but storing users failed: {e}"),
            )
        })?;
    reply(
        200,
        &dto::SyncBody {
            status: "Sync command sent",
            router_id: id.0,
            secrets: outcome.secrets.len(),
            active: outcome.sessions.len(),
            stored,
        },
    )
}

fn opt_validated(
    body: &mut JsonBody,
    field: &str,
    check: fn(&str, &str) -> Result<(), ApiError>,
) -> Result<Option<String>, ApiError> {
    let value = body.opt_string(field)?;
    if let Some(value) = &value {
        check(field, value)?;
    }
    Ok(value)
}

pub fn secret_create(
    state: &AppState,
    request: &ApiRequest,
    _: &Params,
    scope: &WriteScope,
) -> Reply {
    let mut body = JsonBody::parse(&request.body)?;
    let router_id = body.opt_id("router_id")?;
    let user = body.required_string("user")?;
    validate::name("user", &user)?;
    let password = body.required_string("password")?;
    validate::password("password", &password)?;
    let secret = NewSecret {
        name: user.clone(),
        password,
        profile: opt_validated(&mut body, "profile", validate::name)?,
        service: opt_validated(&mut body, "service", validate::service)?,
        local_address: opt_validated(&mut body, "local_ip", validate::ipv4)?,
        remote_address: opt_validated(&mut body, "remote_ip", validate::ipv4)?,
        comment: opt_validated(&mut body, "comment", validate::comment)?,
        disabled: body.opt_bool("disabled")?,
    };
    body.finish()?;
    let id = resolve_router(state, router_id, Target::Anything)?;
    let handle = handle_for(state, id)?;
    let change = Change {
        router: Some(id),
        user: Some(user.clone()),
        address: secret.remote_address.clone(),
        action: "create_secret",
        change: json!({
            "password": "(changed)",
            "profile": secret.profile,
            "service": secret.service,
            "local_ip": secret.local_address,
            "remote_ip": secret.remote_address,
            "comment": secret.comment,
            "disabled": secret.disabled,
        }),
    };
    scope.run(
        &handle,
        change,
        |job| Command::AddSecret(job, secret),
        move |result| {
            let new_id = result?;
            reply(
                201,
                &dto::SecretCreatedBody {
                    status: "Secret Created",
                    user: &user,
                    router_id: id.0,
                    id: &new_id,
                },
            )
        },
    )
}

pub fn secret_update(
    state: &AppState,
    request: &ApiRequest,
    params: &Params,
    scope: &WriteScope,
) -> Reply {
    let user = user_param(params)?;
    let mut body = JsonBody::parse(&request.body)?;
    let router_id = body.opt_id("router_id")?;
    let changes = SecretChanges {
        password: opt_validated(&mut body, "password", validate::password)?,
        profile: opt_validated(&mut body, "profile", validate::name)?,
        remote_address: opt_validated(&mut body, "remote_ip", validate::ipv4)?,
        comment: opt_validated(&mut body, "comment", validate::comment)?,
        disabled: body.opt_bool("disabled")?,
    };
    let kick = body.opt_bool("kick")?.unwrap_or(false);
    body.finish()?;
    if changes.changed_fields().is_empty() && !kick {
        return Err(ApiError::new(
            400,
            "invalid_field",
            "nothing to change: give profile, password, disabled, comment, remote_ip or kick",
        ));
    }
    let id = resolve_router(state, router_id, Target::Secret(&user))?;
    let handle = handle_for(state, id)?;
    let change = update_change(id, &user, &changes, kick, "update_secret");
    let profile = changes.profile.clone();
    let target = user.clone();
    scope.run(
        &handle,
        change,
        |job| Command::UpdateSecret(job, target, changes, kick),
        move |result| {
            let outcome = result?;
            reply(
                200,
                &dto::SecretUpdatedBody {
                    status: "Plan Updated",
                    user: &user,
                    profile: profile.as_deref(),
                    router_id: id.0,
                    updated: &outcome.updated,
                    kicked: outcome.kicked,
                },
            )
        },
    )
}

/// The audit's view of a secret change: changed fields in API names, never the password.
pub(in crate::http) fn update_change(
    id: RouterId,
    user: &str,
    changes: &SecretChanges,
    kick: bool,
    action: &'static str,
) -> Change {
    let mut change = serde_json::Map::new();
    if changes.password.is_some() {
        change.insert("password".into(), json!("(changed)"));
    }
    if let Some(profile) = &changes.profile {
        change.insert("profile".into(), json!(profile));
    }
    if let Some(ip) = &changes.remote_address {
        change.insert("remote_ip".into(), json!(ip));
    }
    if let Some(comment) = &changes.comment {
        change.insert("comment".into(), json!(comment));
    }
    if let Some(disabled) = changes.disabled {
        change.insert("disabled".into(), json!(disabled));
    }
    if kick {
        change.insert("kick".into(), json!(true));
    }
    Change {
        router: Some(id),
        user: Some(user.to_owned()),
        address: changes.remote_address.clone(),
        action,
        change: Value::Object(change),
    }
}

fn query_router_id(request: &ApiRequest) -> Result<Option<u64>, ApiError> {
    let Some(raw) = request.query("router_id").filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    raw.parse::<u64>()
        .ok()
        .filter(|&v| v > 0)
        .map(Some)
        .ok_or_else(|| {
            ApiError::field(
                "router_id",
                format!("router_id must be a positive integer, got {raw:?}"),
            )
        })
}

pub fn secret_delete(
    state: &AppState,
    request: &ApiRequest,
    params: &Params,
    scope: &WriteScope,
) -> Reply {
    let user = user_param(params)?;
    let router_id = query_router_id(request)?;
    let kick = match request.query("kick") {
        None | Some("") | Some("0") | Some("false") => false,
        Some("1") | Some("true") => true,
        Some(other) => {
            return Err(ApiError::field(
                "kick",
                format!("kick must be 1 or 0, got {other:?}"),
            ))
        }
    };
    let id = resolve_router(state, router_id, Target::Secret(&user))?;
    let handle = handle_for(state, id)?;
    let change = Change {
        router: Some(id),
        user: Some(user.clone()),
        address: None,
        action: "delete_secret",
        change: json!({"kick": kick}),
    };
    let target = user.clone();
    scope.run(
        &handle,
        change,
        |job| Command::DeleteSecret(job, target, kick),
        move |result| {
            let kicked = result?;
            reply(
                200,
                &dto::SecretDeletedBody {
                    router_id: id.0,
                    user: &user,
                    deleted: true,
                    kicked,
                },
            )
        },
    )
}

pub fn kick(state: &AppState, request: &ApiRequest, _: &Params, scope: &WriteScope) -> Reply {
    let mut body = JsonBody::parse(&request.body)?;
    let router_id = body.opt_id("router_id")?;
    let user = body.required_string("user")?;
    validate::name("user", &user)?;
    body.finish()?;
    let id = resolve_router(state, router_id, Target::User(&user))?;
    let handle = handle_for(state, id)?;
    let change = Change {
        router: Some(id),
        user: Some(user.clone()),
        address: None,
        action: "kick",
        change: json!({}),
    };
    let target = user.clone();
    scope.run(
        &handle,
        change,
        |job| Command::Kick(job, target),
        move |result| {
            let kicked = result?;
            reply(
                200,
                &dto::KickBody {
                    router_id: id.0,
                    user: &user,
                    kicked,
                },
            )
        },
    )
}

pub fn isolate(state: &AppState, request: &ApiRequest, _: &Params, scope: &WriteScope) -> Reply {
    let mut body = JsonBody::parse(&request.body)?;
    let router_id = body.opt_id("router_id")?;
    let action = body.required_string("action")?;
    let add = match action.as_str() {
        "add" => true,
        "remove" => false,
        other => {
            return Err(ApiError::field(
                "action",
                format!("action must be add or remove, got {other:?}"),
            ))
        }
    };
    let ip = opt_validated(&mut body, "ip", validate::ipv4)?;
    let user = opt_validated(&mut body, "user", validate::name)?;
    let list = opt_validated(&mut body, "list", validate::list_name)?
        .unwrap_or_else(|| ISOLATION_LIST.to_owned());
    let comment = opt_validated(&mut body, "comment", validate::comment)?;
    body.finish()?;
    let target = match (&ip, &user) {
        (Some(ip), _) => Target::Address(ip),
        (None, Some(user)) => Target::User(user),
        (None, None) => return Err(ApiError::field("ip", "give ip or user")),
    };
    let id = resolve_router(state, router_id, target)?;
    let handle = handle_for(state, id)?;
    let change = Change {
        router: Some(id),
        user: user.clone(),
        address: ip.clone(),
        action: if add { "isolate" } else { "unisolate" },
        change: json!({"list": list, "comment": comment}),
    };
    let request = IsolateRequest {
        add,
        list: list.clone(),
        ip,
        user,
        comment,
    };
    scope.run(
        &handle,
        change,
        |job| Command::Isolate(job, request),
        move |result| {
            let outcome = result?;
            reply(
                200,
                &dto::IsolateBody {
                    status: "Isolation Updated",
                    ip: &outcome.address,
                    action: &action,
                    router_id: id.0,
                    list: &list,
                    address: &outcome.address,
                    changed: outcome.changed,
                },
            )
        },
    )
}

pub fn backup(state: &AppState, _: &ApiRequest, params: &Params, scope: &WriteScope) -> Reply {
    let id = router_id_param(params)?;
    let handle = handle_for(state, id)?;
    let change = Change {
        router: Some(id),
        user: None,
        address: None,
        action: "backup",
        change: json!({}),
    };
    scope.run(&handle, change, Command::Backup, move |result| {
        let file = result?;
        reply(
            200,
            &dto::BackupBody {
                status: "Backup created",
                file: &file,
                router_id: id.0,
            },
        )
    })
}
