//! What guards the account: sessions, MFA, passwords, deactivation, logout, promotion.

use agentry_store::Uow;

use super::*;

impl Accounts<'_> {
    pub(super) fn load_user(
        &self,
        conn: &mut AnyConnection,
        user: UserId,
    ) -> Result<agentry_store::identity::UserRow, AppError> {
        identity::find_user(conn, user)?.ok_or_else(|| AppError::NotFound("User not found".into()))
    }

    pub(super) fn provisioning_uri(&self, secret: &str, email: &str) -> String {
        totp::provisioning_uri(secret, &self.app.settings.app_name, email).unwrap_or_default()
    }

    /// The use cases that count an attempt of the login throttle or spend a TOTP step keep
    /// those writes when they refuse (else a refusal would be a free guess). Inside another
    /// unit of work a refusal would roll them back with the rest, so they run only on a
    /// handle of their own.
    pub(super) fn alone(uow: &Uow<'_>, what: &str) -> Result<(), AppError> {
        if uow.in_work() {
            return Err(AppError::Internal(format!(
                "`{what}` counts login attempts and cannot run inside another unit of work"
            )));
        }
        Ok(())
    }

    /// Check a TOTP code for `user` and record its step, so it cannot be used again.
    pub(super) fn accept_code(
        &self,
        conn: &mut AnyConnection,
        user: &agentry_store::identity::UserRow,
        code: &str,
    ) -> Result<(), AppError> {
        let invalid = || AppError::Unauthorized("Invalid MFA token".into());
        let secret = user.mfa_secret.as_deref().ok_or_else(invalid)?;
        let step = totp::verify(secret, code, now_epoch() as u64, user.mfa_last_step)
            .ok_or_else(invalid)?;
        if account::claim_mfa_step(conn, user.id.into(), step)? {
            Ok(())
        } else {
            Err(invalid())
        }
    }

    /// `GET /v1/user/mfa/setup`: the secret to enrol (made if the user has none).
    pub fn mfa_setup(&self, uow: &mut Uow<'_>, caller: &Caller) -> Result<MfaSetup, AppError> {
        caller.require_session()?;
        let conn = uow.conn()?;
        let user = self.load_user(conn, caller.user)?;
        if user.mfa_enabled {
            // The secret is only shown while enrolling.
            return Err(AppError::BadRequest("MFA is already enabled".into()));
        }
        let secret = match user.mfa_secret {
            Some(secret) => secret,
            None => {
                let secret = totp::new_secret();
                let patch = UserPatch {
                    mfa_secret: Some(secret.clone()),
                    mfa_last_step: Some(None),
                    ..Default::default()
                };
                self.app
                    .sessions()
                    .write_user(uow, caller.user, &patch, None)?;
                secret
            }
        };
        Ok(MfaSetup {
            provisioning_uri: self.provisioning_uri(&secret, &user.email),
            secret,
            mfa_enabled: user.mfa_enabled,
        })
    }

    /// `POST /v1/user/mfa/enable`: a valid current code turns MFA on.
    pub fn mfa_enable(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        code: &str,
    ) -> Result<(), AppError> {
        Self::alone(uow, "mfa_enable")?;
        caller.require_session()?;
        let conn = uow.conn()?;
        let user = self.load_user(conn, caller.user)?;
        if user.mfa_secret.is_none() {
            return Err(AppError::BadRequest(
                "MFA is not set up. Call /v1/user/mfa/setup first.".into(),
            ));
        }
        if user.mfa_enabled {
            return Err(AppError::BadRequest("MFA is already enabled".into()));
        }
        // A right code proves nothing about the password: it only gives its own claim back.
        let claim = self.claim_attempt(conn, &user)?;
        self.accept_code(conn, &user, code)?;
        self.give_back(conn, claim)?;
        let patch = UserPatch {
            mfa_enabled: Some(true),
            ..Default::default()
        };
        self.app
            .sessions()
            .write_user(uow, caller.user, &patch, None)?;
        Ok(())
    }

    /// `POST /v1/user/mfa/disable`: needs a valid code, and the password when one is set.
    pub fn mfa_disable(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        form: &MfaDisable,
    ) -> Result<(), AppError> {
        Self::alone(uow, "mfa_disable")?;
        caller.require_session()?;
        let slot = self.hash_slot()?;
        let conn = uow.conn()?;
        let user = self.load_user(conn, caller.user)?;
        if !user.mfa_enabled {
            return Err(AppError::BadRequest("MFA is not enabled".into()));
        }
        let code = form.mfa_token.as_deref().map(str::trim).unwrap_or_default();
        if code.is_empty() {
            return Err(AppError::BadRequest("MFA token is required".into()));
        }
        let given = form.password.as_deref().unwrap_or_default();
        if user.password_hash.is_some() && given.is_empty() {
            return Err(AppError::BadRequest("Password is required".into()));
        }
        // The password and the code are one attempt of the login throttle.
        let claim = self.claim_attempt(conn, &user)?;
        if let Some(stored) = user.password_hash.as_deref() {
            uow.release();
            let matches = slot.verify(given, stored);
            if !matches {
                let conn = uow.conn()?;
                account::record_failed_login(conn, caller.user, None, naive_of(now_epoch()))?;
                return Err(AppError::Unauthorized("Invalid password".into()));
            }
        }
        drop(slot);
        let conn = uow.conn()?;
        self.accept_code(conn, &user, code)?;
        // A verified password clears the count; a code alone only gives its claim back.
        let patch = if user.password_hash.is_some() {
            UserPatch::attempts_cleared()
        } else {
            self.give_back(conn, claim)?;
            UserPatch::default()
        };
        let patch = UserPatch {
            mfa_enabled: Some(false),
            ..patch
        };
        self.app
            .sessions()
            .write_user(uow, caller.user, &patch, None)?;
        Ok(())
    }

    /// `POST /v1/user/mfa/reset`: a new secret; returns its `otpauth://` URI. With MFA on, a
    /// valid current code is required, so a stolen session cannot take the account over.
    pub fn mfa_reset(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        code: Option<&str>,
    ) -> Result<String, AppError> {
        Self::alone(uow, "mfa_reset")?;
        caller.require_session()?;
        let conn = uow.conn()?;
        let user = self.load_user(conn, caller.user)?;
        if user.mfa_enabled {
            let code = code.map(str::trim).unwrap_or_default();
            if code.is_empty() {
                return Err(AppError::BadRequest(
                    "MFA is enabled: send the current code as mfa_token".into(),
                ));
            }
            let claim = self.claim_attempt(conn, &user)?;
            self.accept_code(conn, &user, code)?;
            self.give_back(conn, claim)?;
        }
        let secret = totp::new_secret();
        let patch = UserPatch {
            mfa_secret: Some(secret.clone()),
            mfa_last_step: Some(None),
            ..Default::default()
        };
        self.app
            .sessions()
            .write_user(uow, caller.user, &patch, None)?;
        Ok(self.provisioning_uri(&secret, &user.email))
    }

    /// `POST /v1/user/password/change`: every token issued before the change is revoked; the
    /// caller gets a fresh one.
    pub fn change_password(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        form: &PasswordChange,
    ) -> Result<String, AppError> {
        Self::alone(uow, "change_password")?;
        caller.require_session()?;
        password::check_new(&form.new_password, &form.confirm_password)
            .map_err(|error| AppError::BadRequest(error.to_string()))?;
        // One slot for the check and the new hash, taken before anything is counted.
        let slot = self.hash_slot()?;
        let conn = uow.conn()?;
        let user = self.load_user(conn, caller.user)?;
        let Some(stored) = user.password_hash.as_deref() else {
            return Err(AppError::BadRequest(
                "No password is set. Use /v1/user/password/set.".into(),
            ));
        };
        // An attempt of the login throttle, so a session cannot guess the password either.
        self.claim_attempt(conn, &user)?;
        uow.release();
        if !slot.verify(&form.current_password, stored) {
            let conn = uow.conn()?;
            account::record_failed_login(conn, caller.user, None, naive_of(now_epoch()))?;
            return Err(AppError::Unauthorized(
                "Current password is incorrect".into(),
            ));
        }
        let hash = slot.hash(&form.new_password)?;
        drop(slot);
        // The new hash and the revocation in one statement: never one without the other.
        let now = now_epoch();
        let patch = UserPatch {
            password_hash: Some(hash),
            tokens_valid_after: Some(naive_of(now)),
            updated_at: Some(naive_of(now)),
            ..UserPatch::attempts_cleared()
        };
        self.app
            .sessions()
            .write_user(uow, caller.user, &patch, Some(now))?;
        // Issued after the revocation instant, so it survives it.
        self.app.sessions().issue_token(caller.user, &user.email)
    }

    /// `POST /v1/user/password/set`: only for accounts without a password; gives them a
    /// username if they have none. Returns the username.
    pub fn set_password(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        form: &PasswordSet,
    ) -> Result<String, AppError> {
        caller.require_session()?;
        password::check_new(&form.new_password, &form.confirm_password)
            .map_err(|error| AppError::BadRequest(error.to_string()))?;
        let conn = uow.conn()?;
        let user = self.load_user(conn, caller.user)?;
        if user.password_hash.is_some() {
            return Err(AppError::BadRequest(
                "A password is already set. Use /v1/user/password/change.".into(),
            ));
        }
        let username = match user.username {
            Some(name) => name,
            None => pick_username(conn, &user.email)?,
        };
        uow.release();
        let hash = self.app.hasher.hash(&form.new_password)?;
        let patch = UserPatch {
            password_hash: Some(hash),
            username: Some(username.clone()),
            updated_at: Some(naive_of(now_epoch())),
            ..Default::default()
        };
        // The view shows the username.
        self.app
            .sessions()
            .write_user(uow, caller.user, &patch, None)?;
        Ok(username)
    }

    /// `DELETE /v1/user`: deactivate the account (the reference's soft delete) and revoke
    /// every token.
    pub fn deactivate(&self, uow: &mut Uow<'_>, caller: &Caller) -> Result<(), AppError> {
        caller.require_session()?;
        // Deactivation and revocation in one statement.
        let now = now_epoch();
        let patch = UserPatch {
            is_active: Some(false),
            tokens_valid_after: Some(naive_of(now)),
            updated_at: Some(naive_of(now)),
            ..Default::default()
        };
        if !self
            .app
            .sessions()
            .write_user(uow, caller.user, &patch, Some(now))?
        {
            return Err(AppError::NotFound("User not found".into()));
        }
        Ok(())
    }

    /// `agentry admin promote EMAIL`: role 0 in the user's current company.
    pub fn promote_super_admin(&self, uow: &mut Uow<'_>, email: &str) -> Result<UserId, AppError> {
        let email = email.trim().to_lowercase();
        let conn = uow.conn()?;
        let user = account::find_user_by_login(conn, &email)?
            .filter(|user| user.email == email)
            .ok_or_else(|| AppError::NotFound(format!("No account has the email {email}")))?;
        let user_id: UserId = user.id.into();
        let views = identity::memberships_for(conn, user_id)?;
        let company = crate::access::primary(&views)
            .ok_or_else(|| AppError::BadRequest(format!("{email} belongs to no company")))?;
        self.app.write(uow, |work| {
            if !companies::set_role(work.conn(), user_id, company.into(), RoleId::SUPER_ADMIN)? {
                return Err(AppError::NotFound(format!("{email} belongs to no company")));
            }
            work.record(DomainEvent::AccessChanged {
                user: user_id,
                company: Some(company.into()),
            });
            Ok(())
        })?;
        Ok(user_id)
    }

    /// `POST /v1/logout`: void every token of the caller issued until now. That ends every
    /// session and personal access token of the account, so it needs a session.
    pub fn logout(&self, uow: &mut Uow<'_>, caller: &Caller) -> Result<(), AppError> {
        caller.require_session()?;
        self.app.sessions().revoke_tokens(uow, caller.user)
    }
}
