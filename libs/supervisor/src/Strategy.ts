/**
 * OTP strategies: which children a group restarts when one of them exits and must be restarted.
 * Pure; `order` is the start order.
 */
import type { ServiceSpec } from "@keelos/domain"

export const affected = <Name extends string>(strategy: ServiceSpec.Strategy, order: ReadonlyArray<Name>, failed: Name): ReadonlyArray<Name> => {
  switch (strategy) {
    case "one_for_one":
      return [failed]
    case "one_for_all":
      return order
    case "rest_for_one":
      return order.slice(Math.max(order.indexOf(failed), 0))
  }
}
