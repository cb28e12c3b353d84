import type { ControlPlane } from "../../src/worker/control-plane.ts";

type Persist = (route: string, signal: AbortSignal, input: any) => Promise<unknown>;

/** A control plane stand-in made of its `persist`: each try of `persistEach` goes through it once. */
export function fakeControlPlane(fake: { persist: Persist }): ControlPlane {
  return { persist: fake.persist, persistEach: (route: string, signal: AbortSignal, input: () => unknown[]) => fake.persist(route, signal, input()[0]) } as unknown as ControlPlane;
}
