/**
 * The X.509 work of first trust behind promises: a key for the node and a self-signed certificate
 * for it. keel-agent imports this only on a node that bootstraps; from the startup snapshot it is a
 * chunk of its own (keel-bundle), with its own copy of Effect, so only strings cross.
 */
import { Effect } from "effect"
import { Pki } from "@keelos/pki"

/** A new P-256 key pair, PEM. */
export const generateKey = (): Promise<{ readonly key: string; readonly publicKey: string }> => Effect.runPromise(Pki.generateKeyPair())

/** A self-signed server certificate (PEM) for `key`, valid for `days`. */
export const selfSigned = (pair: { readonly key: string; readonly publicKey: string }, commonName: string, days: number): Promise<string> =>
  Effect.runPromise(Pki.selfSigned(pair, commonName, days))
