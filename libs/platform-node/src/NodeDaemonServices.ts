/**
 * The Effect Node services a daemon uses: FileSystem, Path and a ChildProcessSpawner. Effect's
 * NodeServices adds Stdio and a Terminal for command-line programs; building the Terminal opens
 * process.stdin and loads readline, which keel-init and keel-agent, started with no terminal, would
 * pay for at every start.
 */
import { Layer } from "effect"
import * as NodeChildProcessSpawner from "@effect/platform-node/NodeChildProcessSpawner"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"

export const layer = Layer.provideMerge(NodeChildProcessSpawner.layer, Layer.merge(NodeFileSystem.layer, NodePath.layer))
