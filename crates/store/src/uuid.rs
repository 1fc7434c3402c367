//! `DbUuid`: a UUID stored as text on both backends (the multi-backend has no UUID type).

use std::io::Write;

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::Pg;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Text;
use diesel::sqlite::Sqlite;
use uuid::Uuid;

use crate::db::MultiBackend;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub struct DbUuid(pub Uuid);

impl DbUuid {
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }
}

impl Default for DbUuid {
    fn default() -> Self {
        Self::new()
    }
}

macro_rules! conversions {
    ($($id:ty),+) => {$(
        impl From<$id> for DbUuid {
            fn from(id: $id) -> Self {
                Self(id.as_uuid())
            }
        }
        impl From<DbUuid> for $id {
            fn from(id: DbUuid) -> Self {
                <$id>::from_uuid(id.0)
            }
        }
    )+};
}

conversions!(
    agentry_domain::UserId,
    agentry_domain::CompanyId,
    agentry_domain::MembershipId,
    agentry_domain::AgentId,
    agentry_domain::ConversationId,
    agentry_domain::MessageId
);

fn parse(text: &str) -> deserialize::Result<DbUuid> {
    Ok(DbUuid(Uuid::parse_str(text)?))
}

impl ToSql<Text, Pg> for DbUuid {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        write!(out, "{}", self.0.hyphenated())?;
        Ok(IsNull::No)
    }
}

impl FromSql<Text, Pg> for DbUuid {
    fn from_sql(
        bytes: <Pg as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        parse(std::str::from_utf8(bytes.as_bytes())?)
    }
}

impl ToSql<Text, Sqlite> for DbUuid {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0.hyphenated().to_string());
        Ok(IsNull::No)
    }
}

impl FromSql<Text, Sqlite> for DbUuid {
    fn from_sql(
        bytes: <Sqlite as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        let text = <String as FromSql<Text, Sqlite>>::from_sql(bytes)?;
        parse(&text)
    }
}

impl ToSql<Text, MultiBackend> for DbUuid {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
        out.set_value((Text, self));
        Ok(IsNull::No)
    }
}

impl FromSql<Text, MultiBackend> for DbUuid {
    fn from_sql(
        bytes: <MultiBackend as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        bytes.from_sql::<DbUuid, Text>()
    }
}
