//! Logging in, and whether an email has an account.

use agentry_store::Uow;

use super::*;

impl Accounts<'_> {
    /// `POST /v1/login`: username or email, password, and the TOTP code when MFA is on. Each
    /// check is an attempt of the login throttle, per account and per client address.
    pub fn login(
        &self,
        uow: &mut Uow<'_>,
        form: LoginRequest,
        ip: Option<&str>,
    ) -> Result<LoggedIn, AppError> {
        Self::alone(uow, "login")?;
        if let Some(address) = ip {
            self.app.addresses.check(address)?;
        }
        let outcome = self.login_checked(uow, form, ip);
        // A wrong name, password or code counts against the address.
        if let (Some(address), Err(AppError::Unauthorized(_))) = (ip, &outcome) {
            self.app
                .addresses
                .failed(&self.app.settings.throttle, address);
        }
        outcome
    }

    pub(super) fn login_checked(
        &self,
        uow: &mut Uow<'_>,
        form: LoginRequest,
        ip: Option<&str>,
    ) -> Result<LoggedIn, AppError> {
        let invalid = || AppError::Unauthorized("Invalid username or password".into());
        // The slot before the claim: a 503 for want of one counts against nobody.
        let slot = self.hash_slot()?;
        let conn = uow.conn()?;
        let Some(user) = account::find_user_by_login(conn, &form.username)? else {
            uow.release();
            slot.verify(&form.password, DUMMY_HASH);
            return Err(invalid());
        };
        let user_id: UserId = user.id.into();
        let Some(stored) = user.password_hash.as_deref() else {
            return Err(AppError::Unauthorized(
                "Password login not available. Please use magic link or set a password.".into(),
            ));
        };
        let claim = self.claim_attempt(conn, &user)?;
        uow.release();
        let matches = slot.verify(&form.password, stored);
        drop(slot);
        let conn = uow.conn()?;
        let now = now_epoch();
        if !matches {
            account::record_failed_login(conn, user_id, ip, naive_of(now))?;
            return Err(invalid());
        }
        // The password is right: what follows refuses for other reasons than a guess.
        let refund = |conn: &mut AnyConnection, refusal: AppError| {
            self.give_back(conn, claim)?;
            Err(refusal)
        };
        if !user.is_active {
            return refund(
                conn,
                AppError::Forbidden(
                    "Account is not active. Please complete payment or contact support.".into(),
                ),
            );
        }
        if user.mfa_enabled {
            let code = form.mfa_token.as_deref().map(str::trim).unwrap_or_default();
            if code.is_empty() {
                return refund(conn, AppError::MfaRequired);
            }
            if let Err(refusal) = self.accept_code(conn, &user, code) {
                account::record_failed_login(conn, user_id, ip, naive_of(now))?;
                return Err(refusal);
            }
        } else if identity::memberships_for(conn, user_id)?
            .iter()
            .any(|view| view.company.mfa_required)
        {
            return refund(conn, AppError::MfaSetupRequired);
        }
        let patch = UserPatch {
            last_seen: Some(naive_of(now)),
            ..UserPatch::attempts_cleared()
        };
        // Seen: only what shows `last_seen` (the profile) reads again.
        self.app.write(uow, |work| {
            account::update_user(work.conn(), user_id, &patch)?;
            work.record(DomainEvent::UserSeen { user: user_id });
            Ok(())
        })?;
        Ok(LoggedIn {
            detail: "Login successful",
            token: self.app.sessions().issue_token(user_id, &user.email)?,
            user_id,
            email: user.email,
            username: user.username,
        })
    }

    /// `GET /v1/user/exists`: whether an account has this email.
    pub fn user_exists(&self, uow: &mut Uow<'_>, email: &str) -> Result<bool, AppError> {
        let conn = uow.conn()?;
        Ok(account::email_exists(conn, email)?)
    }
}
