// One backend-neutral schema for both migration folders (migrations/sqlite, migrations/postgres).
// Only types that `#[derive(MultiConnection)]` supports appear here: Text (ids are UUID text),
// Bool, Integer, BigInt, Double, Timestamp (UTC, set by the application).

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        username -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        first_name -> Text,
        last_name -> Text,
        admin -> Bool,
        mfa_secret -> Nullable<Text>,
        mfa_enabled -> Bool,
        is_active -> Bool,
        tos_accepted_at -> Nullable<Timestamp>,
        avatar_url -> Nullable<Text>,
        last_seen -> Nullable<Timestamp>,
        status_text -> Nullable<Text>,
        status_mode -> Text,
        tokens_valid_after -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        mfa_last_step -> Nullable<BigInt>,
        failed_attempts -> Integer,
        attempt_gate -> Nullable<Timestamp>,
    }
}

diesel::table! {
    failed_logins (id) {
        id -> Text,
        user_id -> Text,
        ip_address -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    user_preferences (user_id, pref_key) {
        user_id -> Text,
        pref_key -> Text,
        pref_value -> Nullable<Text>,
    }
}

diesel::table! {
    companies (id) {
        id -> Text,
        parent_id -> Nullable<Text>,
        name -> Text,
        agent_name -> Text,
        status -> Bool,
        address -> Nullable<Text>,
        phone_number -> Nullable<Text>,
        email -> Nullable<Text>,
        website -> Nullable<Text>,
        city -> Nullable<Text>,
        state -> Nullable<Text>,
        zip_code -> Nullable<Text>,
        country -> Nullable<Text>,
        notes -> Nullable<Text>,
        icon_url -> Nullable<Text>,
        user_limit -> Integer,
        mfa_required -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        token_balance -> BigInt,
        token_balance_usd -> Double,
        tokens_used_total -> BigInt,
        low_balance_dismissed_at -> Nullable<BigInt>,
        stripe_customer_id -> Nullable<Text>,
        subscription_active -> Bool,
    }
}

diesel::table! {
    payment_transactions (reference_code) {
        reference_code -> Text,
        company_id -> Text,
        user_id -> Nullable<Text>,
        payment_intent_id -> Text,
        status -> Text,
        currency -> Text,
        amount_usd -> Double,
        token_amount -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    agents (id) {
        id -> Text,
        name -> Text,
        user_id -> Text,
        company_id -> Nullable<Text>,
        shared -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    agent_settings (agent_id, name) {
        agent_id -> Text,
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    agent_commands (agent_id, command) {
        agent_id -> Text,
        command -> Text,
        enabled -> Bool,
    }
}

diesel::table! {
    company_settings (company_id, name) {
        company_id -> Text,
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    company_commands (company_id, command) {
        company_id -> Text,
        command -> Text,
        enabled -> Bool,
    }
}

diesel::table! {
    chains (id) {
        id -> Text,
        user_id -> Text,
        name -> Text,
        description -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    chain_steps (chain_id, step_number) {
        chain_id -> Text,
        step_number -> Integer,
        agent_name -> Text,
        prompt_type -> Text,
        prompt -> Text,
    }
}

diesel::table! {
    chain_responses (id) {
        id -> Text,
        chain_id -> Text,
        run_id -> Text,
        step_number -> Integer,
        content -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    prompts (id) {
        id -> Text,
        user_id -> Text,
        category -> Text,
        name -> Text,
        description -> Text,
        content -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    conversations (id) {
        id -> Text,
        user_id -> Text,
        agent_id -> Nullable<Text>,
        name -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    messages (id) {
        id -> Text,
        conversation_id -> Text,
        role -> Text,
        content -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        updated_by -> Nullable<Text>,
        feedback_received -> Bool,
        notify -> Bool,
    }
}

diesel::table! {
    stripe_events (id) {
        id -> Text,
        kind -> Text,
        signed_at -> BigInt,
        received_at -> Timestamp,
    }
}

diesel::table! {
    token_usage (id) {
        id -> Text,
        company_id -> Text,
        user_id -> Text,
        input_tokens -> BigInt,
        output_tokens -> BigInt,
        total_tokens -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    roles (id) {
        id -> Integer,
        name -> Text,
        friendly_name -> Text,
        display_order -> Integer,
    }
}

diesel::table! {
    memberships (id) {
        id -> Text,
        user_id -> Text,
        company_id -> Text,
        role_id -> Integer,
        sort_order -> Nullable<Integer>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    scopes (name) {
        name -> Text,
        resource -> Text,
        action -> Text,
        description -> Text,
        category -> Text,
        is_system -> Bool,
    }
}

diesel::table! {
    role_scopes (role_id, scope_name) {
        role_id -> Integer,
        scope_name -> Text,
    }
}

diesel::table! {
    invitations (id) {
        id -> Text,
        email -> Text,
        company_id -> Text,
        role_id -> Integer,
        inviter_id -> Nullable<Text>,
        is_accepted -> Bool,
        accepted_by -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    personal_access_tokens (id) {
        id -> Text,
        user_id -> Text,
        name -> Text,
        token_prefix -> Text,
        token_hash -> Text,
        scopes_json -> Text,
        agents_json -> Text,
        companies_json -> Text,
        expires_at -> Nullable<Timestamp>,
        is_revoked -> Bool,
        last_used_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    jobs (id) {
        id -> Text,
        kind -> Text,
        dedupe_key -> Nullable<Text>,
        payload -> Text,
        status -> Text,
        run_at -> Timestamp,
        attempts -> Integer,
        max_attempts -> Integer,
        last_error -> Nullable<Text>,
        locked_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    events (id) {
        id -> BigInt,
        kind -> Text,
        subject -> Text,
        payload -> Text,
        created_at -> Timestamp,
        tx -> BigInt,
        origin -> Text,
    }
}

diesel::table! {
    event_horizon (name) {
        name -> Text,
        tx -> BigInt,
        id -> BigInt,
        pruned_at -> Timestamp,
    }
}

diesel::table! {
    seed_marks (name) {
        name -> Text,
        fingerprint -> Text,
        applied_at -> Timestamp,
    }
}

diesel::joinable!(user_preferences -> users (user_id));
diesel::joinable!(failed_logins -> users (user_id));
diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(memberships -> companies (company_id));
diesel::joinable!(memberships -> roles (role_id));
diesel::joinable!(role_scopes -> roles (role_id));
diesel::joinable!(invitations -> companies (company_id));
diesel::joinable!(personal_access_tokens -> users (user_id));
diesel::joinable!(token_usage -> companies (company_id));
diesel::joinable!(payment_transactions -> companies (company_id));
diesel::joinable!(agent_settings -> agents (agent_id));
diesel::joinable!(agent_commands -> agents (agent_id));
diesel::joinable!(company_settings -> companies (company_id));
diesel::joinable!(prompts -> users (user_id));
diesel::joinable!(chains -> users (user_id));
diesel::joinable!(chain_steps -> chains (chain_id));
diesel::joinable!(chain_responses -> chains (chain_id));
diesel::joinable!(company_commands -> companies (company_id));
diesel::joinable!(messages -> conversations (conversation_id));
diesel::joinable!(role_scopes -> scopes (scope_name));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    failed_logins,
    user_preferences,
    companies,
    roles,
    memberships,
    scopes,
    role_scopes,
    invitations,
    personal_access_tokens,
    token_usage,
    payment_transactions,
    stripe_events,
    agents,
    agent_settings,
    company_settings,
    company_commands,
    agent_commands,
    conversations,
    messages,
    prompts,
    chains,
    chain_steps,
    chain_responses,
    jobs,
    events,
    seed_marks,
);
