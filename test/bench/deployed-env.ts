/**
 * The allocator setting the systemd unit and the image give the agent
 * (deploy/systemd/edge-agent.service, Dockerfile.arm64): glibc returns freed blocks of
 * 128 KiB and more, such as decoded camera frames, to the system at once. The memory
 * figures run the agent and its baseline with it; the deploy tests check the files carry it.
 */
export const DEPLOYED_ENV = { MALLOC_MMAP_THRESHOLD_: '131072' } as const;

/**
 * The V8 settings the systemd unit and the image start the agent with (on node's command
 * line: NODE_OPTIONS refuses them). A young generation of 1 MB is collected every few frames,
 * which frees the decoded frames' buffers while they are young: with V8's default (up to 16 MB)
 * it was rarely collected, and the memory of those buffers brought a full collection of the
 * whole heap, a 5–12 ms pause, about every 40 frames. Growing the old generation by 15% past
 * what a full collection keeps, not V8's usual 100% or more, holds the heap near its live size
 * (about 30 MB) instead of letting it climb to 60 MB between the now rare full collections.
 * The frame and memory figures run agent and baseline with them; the deploy tests check the files carry them.
 */
export const DEPLOYED_NODE_FLAGS = ['--max-semi-space-size=1', '--heap-growing-percent=15'] as const;
