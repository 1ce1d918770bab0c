//! Collapsed: multi-tenancy is off, and the one built-in tenant's tables live in the
//! registry database itself. Never placed; nothing to create or destroy.

use futures_util::future::{FutureExt, ready};
use tenantry_proto::Isolation;

use super::{At, IsolationMode, Logins, Mode, Op, Pooling};
use crate::store::tenants::StoreError;
use crate::store::{PoolSettings, TenantDb};

pub struct Collapsed;

pub static MODE: Mode = Mode::new(
    Isolation::Collapsed,
    (Pooling::Registry, Logins::None),
    &[],
    &Collapsed,
);

impl IsolationMode for Collapsed {
    fn create<'a>(&'a self, _: At<'a>) -> Op<'a, Option<i64>> {
        // The registry's migrations are the migrator's at start; nothing is known here.
        ready(Ok(None)).boxed()
    }

    fn open<'a>(&'a self, At { st, .. }: At<'a>, _: PoolSettings) -> Op<'a, TenantDb> {
        // The registry pool itself: released by never closing it.
        ready(Ok(TenantDb::whole(st.registry().clone()))).boxed()
    }

    fn destroy<'a>(&'a self, _: At<'a>) -> Op<'a, bool> {
        ready(Err(StoreError::Unsupported(Isolation::Collapsed))).boxed()
    }

    fn exists<'a>(&'a self, _: At<'a>) -> Op<'a, bool> {
        ready(Ok(true)).boxed()
    }

    fn size<'a>(&'a self, _: At<'a>) -> Op<'a, Option<u64>> {
        ready(Ok(None)).boxed()
    }
}
