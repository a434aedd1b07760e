/**
 * The image under test: built once per change of its inputs (the image build caches by input hash).
 */
import * as path from "node:path"
import { ensureImage } from "../../images/src/build.ts"

export const root = path.resolve(import.meta.dirname, "..", "..")
export const resultsDir = (suite: string) => path.join(root, "results", "vm", suite)

export const image = () => ensureImage()
