/**
 * Entities live in JetStream KV buckets: compare-and-set updates, history per key, and a
 * watch so every tier keeps a live in-memory copy. One module per entity (its schemas and
 * repository), the KV mechanics they share, and the store that composes them.
 */
export { ConflictError, NotFoundError } from '../errors.js'
export * from './affiliates.js'
export * from './brands.js'
export * from './deals.js'
export * from './endpoints.js'
export * from './fields.js'
export * from './fx.js'
export { type Actor, isCasConflict, type OnUnreadable, patchOf, WatchedBucket } from './kv.js'
export * from './links.js'
export * from './offers.js'
export * from './sources.js'
export * from './store.js'
export * from './fraud.js'
