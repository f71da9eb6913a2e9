/** The entities: see entities/index.ts. Kept so `common/entities.js` imports stay as they are. */
export * from './entities/index.js'
