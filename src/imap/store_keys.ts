/**
 * The store's `messageKeys` hook (StoreHooks, src/store/keys_spool.ts) as a module of its
 * own: server.ts hands the function to the store and this module's URL to the keys
 * spool's worker thread, which loads it to compute the keys of delivered messages there.
 */
export { indexKeysText as messageKeys } from "./message_keys.ts";
