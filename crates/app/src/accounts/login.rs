//! Logging in, and whether an email has an account.

use super::*;

impl App {
    /// `POST /v1/login`: username or email, password, and the TOTP code when MFA is on. Each
    /// check is an attempt of the login throttle, per account and per client address.
    pub fn login(&self, form: LoginRequest, ip: Option<&str>) -> Result<LoggedIn, AppError> {
        if let Some(address) = ip {
            self.addresses.check(address)?;
        }
        let outcome = self.login_checked(form, ip);
        // A wrong name, password or code counts against the address.
        if let (Some(address), Err(AppError::Unauthorized(_))) = (ip, &outcome) {
            self.addresses.failed(&self.settings.throttle, address);
        }
        outcome
    }

    pub(super) fn login_checked(
        &self,
        form: LoginRequest,
        ip: Option<&str>,
    ) -> Result<LoggedIn, AppError> {
        let invalid = || AppError::Unauthorized("Invalid username or password".into());
        // The slot before the claim: a 503 for want of one counts against nobody.
        let slot = self.hash_slot()?;
        let mut conn = self.conn()?;
        let Some(user) = account::find_user_by_login(&mut conn, &form.username)? else {
            drop(conn);
            slot.verify(&form.password, DUMMY_HASH);
            return Err(invalid());
        };
        let user_id: UserId = user.id.into();
        let Some(stored) = user.password_hash.as_deref() else {
            return Err(AppError::Unauthorized(
                "Password login not available. Please use magic link or set a password.".into(),
            ));
        };
        let claim = self.claim_attempt(&mut conn, &user)?;
        drop(conn);
        let matches = slot.verify(&form.password, stored);
        drop(slot);
        let mut conn = self.conn()?;
        let now = now_epoch();
        if !matches {
            account::record_failed_login(&mut conn, user_id, ip, naive_of(now))?;
            return Err(invalid());
        }
        // The password is right: what follows refuses for other reasons than a guess.
        let refund = |conn: &mut AnyConnection, refusal: AppError| {
            self.give_back(conn, claim)?;
            Err(refusal)
        };
        if !user.is_active {
            return refund(
                &mut conn,
                AppError::Forbidden(
                    "Account is not active. Please complete payment or contact support.".into(),
                ),
            );
        }
        if user.mfa_enabled {
            let code = form.mfa_token.as_deref().map(str::trim).unwrap_or_default();
            if code.is_empty() {
                return refund(&mut conn, AppError::MfaRequired);
            }
            if let Err(refusal) = self.accept_code(&mut conn, &user, code) {
                account::record_failed_login(&mut conn, user_id, ip, naive_of(now))?;
                return Err(refusal);
            }
        } else if identity::memberships_for(&mut conn, user_id)?
            .iter()
            .any(|view| view.company.mfa_required)
        {
            return refund(&mut conn, AppError::MfaSetupRequired);
        }
        let patch = UserPatch {
            last_seen: Some(naive_of(now)),
            ..UserPatch::attempts_cleared()
        };
        // The view shows `last_seen`.
        self.write_user(&mut conn, user_id, &patch, None)?;
        Ok(LoggedIn {
            detail: "Login successful",
            token: self.issue_token(user_id, &user.email)?,
            user_id,
            email: user.email,
            username: user.username,
        })
    }

    /// `GET /v1/user/exists`: whether an account has this email.
    pub fn user_exists(&self, email: &str) -> Result<bool, AppError> {
        let mut conn = self.conn()?;
        Ok(account::email_exists(&mut conn, email)?)
    }
}
