//! Collapsed: multi-tenancy is off, and the one built-in tenant's tables live in the
//! registry database itself. Never placed; nothing to create or destroy.

use futures_util::future::{BoxFuture, FutureExt, ready};
use tenantry_proto::Isolation;

use super::{IsolationMode, Logins, Pooling, TenantTables};
use crate::store::tenants::{StoreError, TenantStorage};
use crate::store::{Backend, PoolSettings, TenantDb, TenantLocation};

pub struct Collapsed;

impl IsolationMode for Collapsed {
    fn isolation(&self) -> Isolation {
        Isolation::Collapsed
    }

    fn available_on(&self, _backend: Backend) -> bool {
        false
    }

    fn pooling(&self) -> Pooling {
        Pooling::Registry
    }

    fn logins(&self) -> Logins {
        Logins::None
    }

    fn create<'a>(
        &'a self,
        _storage: &'a TenantStorage,
        _loc: &'a TenantLocation,
        _tables: &'a dyn TenantTables,
    ) -> BoxFuture<'a, Result<Option<i64>, StoreError>> {
        // The registry's migrations are the migrator's at start; nothing is known here.
        ready(Ok(None)).boxed()
    }

    fn open<'a>(
        &'a self,
        storage: &'a TenantStorage,
        _loc: &'a TenantLocation,
        _settings: PoolSettings,
    ) -> BoxFuture<'a, Result<TenantDb, StoreError>> {
        // The registry pool itself: released by never closing it.
        ready(Ok(TenantDb::whole(storage.registry().clone()))).boxed()
    }

    fn destroy<'a>(
        &'a self,
        _storage: &'a TenantStorage,
        _loc: &'a TenantLocation,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        ready(Err(StoreError::Unsupported(Isolation::Collapsed))).boxed()
    }

    fn exists<'a>(
        &'a self,
        _storage: &'a TenantStorage,
        _loc: &'a TenantLocation,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        ready(Ok(true)).boxed()
    }

    fn size<'a>(
        &'a self,
        _storage: &'a TenantStorage,
        _loc: &'a TenantLocation,
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        ready(Ok(None)).boxed()
    }
}
