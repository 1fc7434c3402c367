//! Registration: the account, its company, membership and first agent in one unit of work.

use agentry_store::Uow;

use super::*;

impl Accounts<'_> {
    /// `POST /v1/user`: a new account, its company (role 2, or 0 for `SUPERADMIN_EMAIL`),
    /// a TOTP secret, and a token.
    pub fn register(&self, uow: &mut Uow<'_>, form: Registration) -> Result<Registered, AppError> {
        let email = form.email.trim().to_lowercase();
        if !crate::forms::valid_email(&email) {
            return Err(AppError::Invalid {
                field: "email".into(),
                message: "value is not a valid email address".into(),
            });
        }
        for (field, name) in [
            ("first_name", &form.first_name),
            ("last_name", &form.last_name),
        ] {
            if name.as_ref().is_some_and(|n| n.chars().count() > MAX_NAME) {
                return Err(AppError::Invalid {
                    field: field.into(),
                    message: format!("at most {MAX_NAME} characters"),
                });
            }
        }
        password::check_new(&form.password, &form.confirm_password)
            .map_err(|error| AppError::BadRequest(error.to_string()))?;
        let conn = uow.conn()?;
        if account::email_exists(conn, &email)? {
            return Err(AppError::BadRequest(
                "User with this email already exists.".into(),
            ));
        }
        let invalid_invitation = || AppError::BadRequest("Invalid invitation".into());
        // The invitation named in the body must be a pending one for this email.
        let named = form
            .invitation_id
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty());
        let invitation = match named {
            Some(id) => {
                let id = uuid::Uuid::parse_str(id).map_err(|_| invalid_invitation())?;
                let row = companies::find_invitation(conn, agentry_store::DbUuid(id))?
                    .filter(|row| row.email == email && !row.is_accepted)
                    .ok_or_else(invalid_invitation)?;
                Some(row)
            }
            // Without a name, an ordinary sign-up: a pending invitation for the address
            // never captures it (the invitee accepts by naming it, here or later).
            None => None,
        };
        let username = match form
            .username
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        {
            Some(name) if !valid_username(name) => {
                return Err(AppError::BadRequest(
                    "Username must be 3-32 characters of letters, digits, '_', '.' or '-'".into(),
                ));
            }
            Some(name) if account::username_taken(conn, name, None)? => {
                return Err(AppError::Conflict("Username already taken".into()));
            }
            Some(name) => name.to_owned(),
            None => pick_username(conn, &email)?,
        };
        // The slow part (argon2, ~0.1 s) holds no connection.
        uow.release();
        let password_hash = self.app.hasher.hash(&form.password)?;
        let secret = totp::new_secret();

        let now = naive_of(now_epoch());
        let first_name = form.first_name.unwrap_or_default().trim().to_owned();
        let user_id = UserId::new();
        let company_id = CompanyId::new();
        let role = if self.app.settings.superadmin_email.as_deref() == Some(email.as_str()) {
            RoleId::SUPER_ADMIN
        } else {
            RoleId::COMPANY_ADMIN
        };
        let (company_id, role) = match &invitation {
            Some(row) => (CompanyId::from(row.company_id), RoleId(row.role_id)),
            None => (company_id, role),
        };
        let mut preferences = vec![
            (
                "timezone".to_owned(),
                Some(form.timezone.unwrap_or_else(|| "UTC".into())),
            ),
            ("input_tokens".to_owned(), Some("0".to_owned())),
            ("output_tokens".to_owned(), Some("0".to_owned())),
            (
                "verify_email".to_owned(),
                Some(invitation.is_some().to_string()),
            ),
            ("onboarding_completed".to_owned(), Some("false".to_owned())),
        ];
        if let Some(phone) = form
            .phone_number
            .as_deref()
            .map(digits)
            .filter(|p| !p.is_empty())
        {
            preferences.push(("phone_number".to_owned(), Some(phone)));
        }
        let new_account = NewAccount {
            user: NewUser {
                id: user_id.into(),
                email: email.clone(),
                username: Some(username.clone()),
                password_hash: Some(password_hash),
                first_name: first_name.clone(),
                last_name: form.last_name.unwrap_or_default().trim().to_owned(),
                mfa_secret: Some(secret.clone()),
                tos_accepted_at: form.tos_accepted.unwrap_or(false).then_some(now),
                created_at: now,
                updated_at: now,
            },
            // An invitee joins the inviting company and gets none of their own.
            company: invitation.is_none().then(|| NewCompany {
                id: company_id.into(),
                parent_id: None,
                name: company_name(form.organization_name.as_deref(), &first_name),
                agent_name: "AGiXT".into(),
                created_at: now,
                updated_at: now,
            }),
            membership: NewMembership::new(user_id, company_id, role, now),
            preferences,
        };
        let first_agent_name = new_account
            .company
            .as_ref()
            .map_or_else(|| "AGiXT".to_owned(), |c| c.agent_name.clone());
        let created = self.app.write(uow, |work| {
            account::create_account(work.conn(), &new_account)?;
            work.record(DomainEvent::UserRegistered { user: user_id });
            if let Some(row) = &invitation {
                // Another registration may have taken this invitation meanwhile.
                if !companies::accept_invitation(work.conn(), row.id, user_id)? {
                    return Err(invalid_invitation());
                }
                // Joining the inviting company, as accepting an invitation records.
                work.record(DomainEvent::AccessChanged {
                    user: user_id,
                    company: Some(company_id),
                });
            }
            // The user's first agent, named as their company names its agents.
            let mut settings = agentry_domain::agent::default_settings(None);
            self.app.agents().insert_agent_in(
                work,
                user_id,
                &first_agent_name,
                &mut settings,
                Some(company_id),
                &BTreeMap::new(),
            )
        });
        match created {
            // Another registration won the race for this email or username.
            Err(AppError::Store(error)) if error.is_conflict() => {
                return Err(AppError::Conflict(
                    "User with this email or username already exists.".into(),
                ));
            }
            other => {
                other?;
            }
        }

        let token = self.app.sessions().issue_token(user_id, &email)?;
        Ok(Registered {
            otp_uri: totp::provisioning_uri(&secret, &self.app.settings.app_name, &email)
                .unwrap_or_default(),
            magic_link: format!("{}?token={token}", self.app.settings.app_uri),
            token,
            user_id,
            username,
        })
    }
}
