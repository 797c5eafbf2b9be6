/**
 * The tag index: per host group, a map from lowercased tag to the VM that
 * carries it, so routing a request costs one map lookup.
 */
import type { SlicerNode } from "../slicer/client.ts";
import { isSettingTag } from "./overrides.ts";

/** A tag carried by more than one VM in the same host group. */
export interface TagConflict {
  hostGroup: string;
  tag: string;
  /** The VM that the tag routes to. */
  chosen: string;
  ignored: string;
}

export class TagIndex {
  readonly #groups = new Map<string, Map<string, string>>();
  /** Conflicts found while building, for the caller to log. */
  readonly conflicts: TagConflict[] = [];

  /**
   * Builds the index from `nodes`. When two VMs in one group share a tag,
   * the one whose hostname sorts first wins, so the choice is stable across
   * refreshes.
   */
  constructor(nodes: readonly SlicerNode[]) {
    const sorted = [...nodes].sort((a, b) => a.hostname.localeCompare(b.hostname));
    for (const node of sorted) {
      let group = this.#groups.get(node.hostGroup);
      if (group === undefined) {
        group = new Map();
        this.#groups.set(node.hostGroup, group);
      }
      for (const rawTag of node.tags) {
        if (isSettingTag(rawTag)) continue;
        const tag = rawTag.toLowerCase();
        const existing = group.get(tag);
        if (existing === undefined) {
          group.set(tag, node.hostname);
        } else if (existing !== node.hostname) {
          this.conflicts.push({
            hostGroup: node.hostGroup,
            tag,
            chosen: existing,
            ignored: node.hostname,
          });
        }
      }
    }
  }

  /** Returns the hostname of the VM tagged `tag` in `hostGroup`, ignoring case. */
  lookup(hostGroup: string, tag: string): string | undefined {
    return this.#groups.get(hostGroup)?.get(tag.toLowerCase());
  }
}
