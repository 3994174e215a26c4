/**
 * The allocator setting the systemd unit and the image give the agent
 * (deploy/systemd/edge-agent.service, Dockerfile.arm64): glibc returns freed blocks of
 * 128 KiB and more, such as decoded camera frames, to the system at once. The memory
 * figures run the agent and its baseline with it; the deploy tests check the files carry it.
 */
export const DEPLOYED_ENV = { MALLOC_MMAP_THRESHOLD_: '131072' } as const;
