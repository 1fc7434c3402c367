//! Prompts (reference agents-memory.md section 6): each user's own prompts, over Agentry's
//! built-in set. A name resolves to the user's prompt of that name in the category, else the
//! built-in one. Changing a built-in prompt makes the user's own copy (an override), which
//! revert removes. Names are unique within a user's category (409), unlike the reference.
//! A user's prompts are one read model keyed by the user, fed by `prompt.changed`.
//!
//! Not built yet: the company and server tiers (`/v1/company/prompt...`, `/v1/server/...`).

pub(crate) mod builtin;

use std::sync::Arc;

use agentry_domain::UserId;
use agentry_domain::events::DomainEvent;
use agentry_store::Uow;
use agentry_store::prompts::{self as store, PromptRow};
use sha2::{Digest, Sha256};

use crate::read_models::Through;
use crate::session::Caller;
use crate::{App, AppError};

pub use agentry_api::prompts::{
    AllPrompts, CategoryPrompts, NewPrompt, PromptArgs, PromptCategories, PromptCategory,
    PromptCreated, PromptDetail, PromptEntry, PromptList, PromptView, RenamePrompt, UpdatePrompt,
};

/// The longest prompt name and category.
const MAX_NAME: usize = 256;
/// The largest prompt.
const MAX_CONTENT: usize = 256 * 1024;
/// The most prompts one user keeps.
const MAX_PROMPTS: usize = 1000;

/// Each user's prompts, as the read model keeps them.
#[derive(Debug, Clone, Default)]
pub struct UserPrompts(pub(crate) Vec<PromptRow>);

impl UserPrompts {
    pub(crate) fn weight(&self) -> usize {
        self.0
            .iter()
            .map(|p| {
                p.content
                    .len()
                    .saturating_add(p.name.len())
                    .saturating_add(p.category.len())
                    .saturating_add(160)
            })
            .fold(64, usize::saturating_add)
    }
}

/// Prompts. A view of the application's [`Context`](crate::Context), taken with
/// [`App::prompts`](crate::App::prompts).
#[derive(Clone, Copy)]
pub struct Prompts<'a> {
    pub(crate) app: &'a App,
}

/// A stable id made from `text` (built-in prompts and categories have no rows).
fn derived_id(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// The id of the built-in prompt `name` (the same on every server).
pub fn builtin_id(name: &str) -> String {
    derived_id(&format!("agentry:prompt:{}:{name}", builtin::CATEGORY))
}

fn category_id(name: &str) -> String {
    derived_id(&format!("agentry:prompt-category:{name}"))
}

fn not_found() -> AppError {
    AppError::NotFound("Prompt not found".into())
}

fn checked_name(field: &str, text: &str) -> Result<String, AppError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_NAME || text.chars().any(char::is_control) {
        return Err(AppError::Invalid {
            field: field.into(),
            message: format!("a name of 1 to {MAX_NAME} characters"),
        });
    }
    Ok(text.to_owned())
}

fn checked_content(text: &str) -> Result<(), AppError> {
    if text.len() > MAX_CONTENT {
        return Err(AppError::TooLarge(format!(
            "a prompt is at most {MAX_CONTENT} bytes"
        )));
    }
    Ok(())
}

/// A prompt found by id: the user's row, or a built-in one.
enum Found<'p> {
    Own(&'p PromptRow),
    Builtin(&'static str, &'static str),
}

impl Prompts<'_> {
    /// The caller's prompts (read model).
    fn own(&self, uow: &mut Uow<'_>, user: UserId) -> Result<Arc<UserPrompts>, AppError> {
        self.app.user_prompts.load(uow, &user, |uow| {
            Ok(UserPrompts(store::prompts_of(uow.conn()?, user)?))
        })
    }

    fn find<'p>(&self, prompts: &'p UserPrompts, id: &str) -> Option<Found<'p>> {
        let id = id.trim();
        if let Some(row) = prompts
            .0
            .iter()
            .find(|row| row.id.0.to_string().eq_ignore_ascii_case(id))
        {
            return Some(Found::Own(row));
        }
        let (name, text) = builtin::DEFAULTS
            .iter()
            .find(|(name, _)| builtin_id(name) == id)?;
        // A built-in the user changed is their version, by either id.
        Some(
            match prompts
                .0
                .iter()
                .find(|row| row.category == builtin::CATEGORY && row.name == *name)
            {
                Some(row) => Found::Own(row),
                None => Found::Builtin(name, text),
            },
        )
    }

    fn overridden(prompts: &UserPrompts, name: &str) -> bool {
        prompts
            .0
            .iter()
            .any(|row| row.category == builtin::CATEGORY && row.name == name)
    }

    fn detail(row: &PromptRow) -> PromptDetail {
        PromptDetail {
            id: row.id.0.to_string(),
            name: row.name.clone(),
            category: row.category.clone(),
            content: row.content.clone(),
            description: row.description.clone(),
            arguments: builtin::arguments(&row.content),
            source: "user".into(),
            is_override: row.category == builtin::CATEGORY
                && builtin::DEFAULTS.iter().any(|(name, _)| *name == row.name),
        }
    }

    /// The text of the prompt `name` in `category` for `user`: their own, else the built-in
    /// one (names of built-ins match ignoring case). What the chat pipeline renders.
    pub(crate) fn resolve(
        &self,
        uow: &mut Uow<'_>,
        user: UserId,
        category: &str,
        name: &str,
    ) -> Result<Option<String>, AppError> {
        let own = self.own(uow, user)?;
        let name = name.trim();
        // A built-in's name in any case means the built-in (or the user's version of it).
        let builtin = builtin::builtin_named(name);
        let wanted = match builtin {
            Some((canonical, _)) if category == builtin::CATEGORY => canonical,
            _ => name,
        };
        if let Some(row) = own
            .0
            .iter()
            .find(|row| row.category == category && row.name == wanted)
        {
            return Ok(Some(row.content.clone()));
        }
        Ok(builtin.map(|(_, text)| text.to_owned()))
    }

    /// `GET /v1/prompts?prompt_category=`: the category's prompts, the caller's first, then
    /// the built-in ones they have not replaced.
    pub fn list(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        category: Option<&str>,
    ) -> Result<PromptList, AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "prompts:read")?;
        let category = category
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .unwrap_or(builtin::CATEGORY);
        let own = self.own(uow, caller.user)?;
        Ok(PromptList {
            prompts: self.entries(&own, category),
            category: category.to_owned(),
        })
    }

    fn entries(&self, own: &UserPrompts, category: &str) -> Vec<PromptEntry> {
        let mut entries: Vec<PromptEntry> = own
            .0
            .iter()
            .filter(|row| row.category == category)
            .map(|row| PromptEntry {
                id: row.id.0.to_string(),
                name: row.name.clone(),
                source: "user".into(),
            })
            .collect();
        if category == builtin::CATEGORY {
            entries.extend(
                builtin::DEFAULTS
                    .iter()
                    .filter(|(name, _)| !Self::overridden(own, name))
                    .map(|(name, _)| PromptEntry {
                        id: builtin_id(name),
                        name: (*name).to_owned(),
                        source: "global".into(),
                    }),
            );
        }
        entries
    }

    /// `GET /v1/prompt/categories`: "Default" and the caller's own categories.
    pub fn categories(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
    ) -> Result<PromptCategories, AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "prompts:read")?;
        let own = self.own(uow, caller.user)?;
        let mut names: Vec<&str> = vec![builtin::CATEGORY];
        for row in &own.0 {
            if !names.contains(&row.category.as_str()) {
                names.push(&row.category);
            }
        }
        let categories: Vec<PromptCategory> = names
            .into_iter()
            .map(|name| PromptCategory {
                id: category_id(name),
                name: name.to_owned(),
                description: String::new(),
                source: if name == builtin::CATEGORY {
                    "global"
                } else {
                    "user"
                }
                .into(),
            })
            .collect();
        Ok(PromptCategories {
            prompt_categories: categories.clone(),
            categories,
        })
    }

    /// `GET /v1/prompt/category/{id}`: the prompts of the category with that id (or name).
    pub fn by_category(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
    ) -> Result<CategoryPrompts, AppError> {
        let categories = self.categories(uow, caller)?;
        let category = categories
            .categories
            .iter()
            .find(|c| c.id.eq_ignore_ascii_case(id.trim()) || c.name == id.trim())
            .ok_or_else(|| AppError::NotFound("Category not found".into()))?;
        let own = self.own(uow, caller.user)?;
        Ok(CategoryPrompts {
            prompts: self.entries(&own, &category.name),
            category_id: category.id.clone(),
        })
    }

    /// `GET /v1/prompt/all`: the built-in prompts and the caller's, in full.
    pub fn all(&self, uow: &mut Uow<'_>, caller: &Caller) -> Result<AllPrompts, AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "prompts:read")?;
        let own = self.own(uow, caller.user)?;
        let global_prompts = builtin::DEFAULTS
            .iter()
            .map(|(name, text)| PromptDetail {
                id: builtin_id(name),
                name: (*name).to_owned(),
                category: builtin::CATEGORY.into(),
                content: (*text).to_owned(),
                description: String::new(),
                arguments: builtin::arguments(text),
                source: "global".into(),
                is_override: false,
            })
            .collect();
        Ok(AllPrompts {
            global_prompts,
            user_prompts: own.0.iter().map(Self::detail).collect(),
        })
    }

    /// `GET /v1/prompt/{id}`: a prompt of the caller's or a built-in one; another user's is
    /// unknown (404).
    pub fn get(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
    ) -> Result<PromptView, AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "prompts:read")?;
        let own = self.own(uow, caller.user)?;
        Ok(match self.find(&own, id).ok_or_else(not_found)? {
            Found::Own(row) => PromptView {
                id: row.id.0.to_string(),
                prompt_name: row.name.clone(),
                prompt_category: row.category.clone(),
                prompt: row.content.clone(),
            },
            Found::Builtin(name, text) => PromptView {
                id: builtin_id(name),
                prompt_name: name.into(),
                prompt_category: builtin::CATEGORY.into(),
                prompt: text.into(),
            },
        })
    }

    /// `GET /v1/prompt/{id}/args`: the prompt's variables.
    pub fn args(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
    ) -> Result<PromptArgs, AppError> {
        let view = self.get(uow, caller, id)?;
        Ok(PromptArgs {
            prompt_args: builtin::arguments(&view.prompt),
        })
    }

    /// Write a new prompt row for the caller (409 when the name is taken in the category).
    fn insert(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        category: String,
        name: String,
        content: String,
    ) -> Result<String, AppError> {
        let own = self.own(uow, caller.user)?;
        if own.0.len() >= MAX_PROMPTS {
            return Err(AppError::Invalid {
                field: "prompt_name".into(),
                message: format!("at most {MAX_PROMPTS} prompts"),
            });
        }
        let at = crate::now_naive();
        let row = PromptRow {
            id: agentry_store::DbUuid(uuid::Uuid::new_v4()),
            user_id: caller.user.into(),
            category,
            name,
            description: String::new(),
            content,
            created_at: at,
            updated_at: at,
        };
        let id = row.id.0.to_string();
        self.app.write(uow, |work| {
            if !store::insert_prompt(work.conn(), &row)? {
                return Err(AppError::Conflict(format!(
                    "Prompt '{}' already exists in category '{}'.",
                    row.name, row.category
                )));
            }
            work.record(DomainEvent::PromptChanged {
                user: caller.user,
                prompt: id.clone(),
            });
            Ok(())
        })?;
        Ok(id)
    }

    /// `POST /v1/prompt`: a new prompt of the caller's (`prompts:write`); a name already in
    /// the category is 409. A built-in name makes the caller's own version of it.
    pub fn create(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        body: NewPrompt,
    ) -> Result<PromptCreated, AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "prompts:write")?;
        let name = checked_name("prompt_name", &body.prompt_name)?;
        let category = checked_name(
            "prompt_category",
            body.prompt_category.as_deref().unwrap_or(builtin::CATEGORY),
        )?;
        checked_content(&body.prompt)?;
        let id = self.insert(uow, caller, category, name.clone(), body.prompt)?;
        Ok(PromptCreated {
            message: format!("Prompt '{name}' created with ID: {id}"),
            id,
        })
    }

    /// `PUT /v1/prompt/{id}` (and `PATCH`, the SDK's rename): the caller's prompt changed in
    /// place; a built-in one becomes the caller's own version. The new name must be free in
    /// the category (409).
    pub fn update(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
        name: Option<&str>,
        content: Option<String>,
    ) -> Result<(), AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "prompts:write")?;
        let name = name.map(|n| checked_name("prompt_name", n)).transpose()?;
        if let Some(content) = &content {
            checked_content(content)?;
        }
        let own = self.own(uow, caller.user)?;
        match self.find(&own, id).ok_or_else(not_found)? {
            Found::Own(row) => {
                let (row_id, name, content) = (
                    row.id,
                    name.unwrap_or_else(|| row.name.clone()),
                    content.unwrap_or_else(|| row.content.clone()),
                );
                self.app.write(uow, |work| {
                    match store::update_prompt(
                        work.conn(),
                        caller.user,
                        row_id,
                        &name,
                        &content,
                        crate::now_naive(),
                    )? {
                        None => return Err(not_found()),
                        Some(false) => {
                            return Err(AppError::Conflict(format!(
                                "Prompt '{name}' already exists in its category."
                            )));
                        }
                        Some(true) => {}
                    }
                    work.record(DomainEvent::PromptChanged {
                        user: caller.user,
                        prompt: row_id.0.to_string(),
                    });
                    Ok(())
                })
            }
            Found::Builtin(builtin_name, text) => {
                let name = name.unwrap_or_else(|| builtin_name.to_owned());
                let content = content.unwrap_or_else(|| text.to_owned());
                self.insert(uow, caller, builtin::CATEGORY.into(), name, content)
                    .map(|_| ())
            }
        }
    }

    /// `DELETE /v1/prompt/{id}`: one of the caller's prompts (`prompts:delete`); a built-in
    /// one cannot be deleted (400); another user's is unknown (404). Its name.
    pub fn delete(&self, uow: &mut Uow<'_>, caller: &Caller, id: &str) -> Result<String, AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "prompts:delete")?;
        let own = self.own(uow, caller.user)?;
        match self.find(&own, id).ok_or_else(not_found)? {
            Found::Builtin(..) => Err(AppError::BadRequest(
                "A built-in prompt cannot be deleted; change it to make your own version".into(),
            )),
            Found::Own(row) => {
                let (row_id, name) = (row.id, row.name.clone());
                self.remove(uow, caller.user, row_id)?;
                Ok(name)
            }
        }
    }

    fn remove(
        &self,
        uow: &mut Uow<'_>,
        user: UserId,
        id: agentry_store::DbUuid,
    ) -> Result<(), AppError> {
        self.app.write(uow, |work| {
            if !store::delete_prompt(work.conn(), user, id)? {
                return Err(not_found());
            }
            work.record(DomainEvent::PromptChanged {
                user,
                prompt: id.0.to_string(),
            });
            Ok(())
        })
    }

    /// `POST /v1/prompt/{id}/revert`: the caller's version of a built-in prompt removed (by
    /// its id or the built-in's), so the built-in one applies again; 400 when there is
    /// nothing to revert.
    pub fn revert(&self, uow: &mut Uow<'_>, caller: &Caller, id: &str) -> Result<(), AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "prompts:write")?;
        let own = self.own(uow, caller.user)?;
        let name = match self.find(&own, id).ok_or_else(not_found)? {
            Found::Own(row) => row.name.clone(),
            Found::Builtin(name, _) => name.to_owned(),
        };
        let Some(row) = own.0.iter().find(|row| {
            row.category == builtin::CATEGORY
                && row.name == name
                && builtin::DEFAULTS.iter().any(|(n, _)| *n == name)
        }) else {
            return Err(AppError::BadRequest(
                "Nothing to revert: this prompt is not a changed built-in one".into(),
            ));
        };
        self.remove(uow, caller.user, row.id)
    }
}
